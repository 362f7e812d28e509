import PyHostWire

#if canImport(Glibc)
    import Glibc
#endif

/// The whole environment of the zygote, and so of every worker: built here, nothing inherited, so
/// no server variable (the deploy token above all) is ever copied onto a sandboxed stack.
let zygoteEnvironment = [
    "PATH=/usr/bin:/bin", "LANG=C.UTF-8",
    // Swift's crash backtracer would run inside workers, which may not exec it: leave crashes to the kernel.
    "SWIFT_BACKTRACE=enable=no",
]

/// posix_spawn of `executable` with `zygoteEnvironment`, `/dev/null` as fds 0 and 1, `errorFD` as
/// fd 2 and `controlFD` as fd 3, in a process group of its own so that a terminal's Ctrl-C reaches
/// only the server, which then stops the zygote in order.
func spawnProcess(executable: String, arguments: [String], controlFD: Int32, errorFD: Int32) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    posix_spawn_file_actions_adddup2(&actions, errorFD, 2)
    posix_spawn_file_actions_adddup2(&actions, controlFD, 3)
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
    posix_spawnattr_setpgroup(&attributes, 0)

    let argv = ([executable] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    let environment = zygoteEnvironment.map { strdup($0) } + [nil]
    defer { environment.forEach { free($0) } }
    var pid: pid_t = 0
    let result = posix_spawn(&pid, executable, &actions, &attributes, argv, environment)
    guard result == 0 else { throw SystemCallError(call: "posix_spawn(\(executable))", errno: result) }
    return pid
}
