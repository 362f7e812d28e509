import PyHostWire

#if canImport(Glibc)
import Glibc
#endif

/// posix_spawn of `executable` with `controlFD` as its fd 3, in a process group of its own so that a
/// terminal's Ctrl-C reaches only the server, which then stops the zygote in order.
func spawnProcess(executable: String, arguments: [String], controlFD: Int32) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, controlFD, 3)
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
    posix_spawnattr_setpgroup(&attributes, 0)

    let argv = ([executable] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var pid: pid_t = 0
    let result = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
    guard result == 0 else { throw SystemCallError(call: "posix_spawn(\(executable))", errno: result) }
    return pid
}
