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
    // Swift's crash backtracer would run inside workers, which may not exec it: leave crashes to the kernel.
    let environment =
        (environmentStrings().filter { !$0.hasPrefix("SWIFT_BACKTRACE=") } + ["SWIFT_BACKTRACE=enable=no"])
        .map { strdup($0) } + [nil]
    defer { environment.forEach { free($0) } }
    let result = posix_spawn(&pid, executable, &actions, &attributes, argv, environment)
    guard result == 0 else { throw SystemCallError(call: "posix_spawn(\(executable))", errno: result) }
    return pid
}

private func environmentStrings() -> [String] {
    var strings: [String] = []
    var cursor = environ
    while let entry = cursor.pointee {
        strings.append(String(cString: entry))
        cursor += 1
    }
    return strings
}
