import CPyHostShims
import PyHostWire

#if canImport(Glibc)
    import Glibc
#endif

extension ZygoteEnvironment {
    /// Where the environment's packages and the runtime appear inside the zygote's root.
    static let sitePackages = "/pyhost/environment"
    static let runtime = "/pyhost/runtime"

    func binds(runtimeDirectory: String) -> [ReadOnlyRoot.Bind] {
        [
            ReadOnlyRoot.Bind(source: directory, target: Self.sitePackages),
            ReadOnlyRoot.Bind(source: runtimeDirectory, target: Self.runtime),
        ]
    }

    /// Confines the zygote further, then imports the runtime, pandas and the environment's modules.
    /// Returns why the import failed, or nil.
    func importPackages(runtime: String, sitePackages: String) throws -> String? {
        try systemCall("prctl(PR_SET_DUMPABLE)") { pyhost_set_dumpable(0) }
        try systemCall("close_range") { pyhost_close_range_from(UInt32(Zygote.controlFD + 1)) }
        try systemCall("prctl(PR_SET_NO_NEW_PRIVS)") { pyhost_set_no_new_privs() }
        try SandboxPolicy.environmentZygote(pid: getpid()).install()
        let modules = self.modules.map(pythonLiteral).joined(separator: ", ")
        let code = """
            import sys; sys.path[:0] = [\(pythonLiteral(runtime)), \(pythonLiteral(sitePackages))]
            import pyhost_runtime.zygote; pyhost_runtime.zygote.prepare_environment([\(modules)])
            """
        guard pyhost_python_run(code) == 0 else { return "the runtime did not load in the environment's zygote" }
        guard let raw = pyhost_python_call_str("pyhost_runtime.zygote", "environment_failure") else {
            return "the environment's zygote could not report how its import went"
        }
        defer { free(raw) }
        let failure = String(cString: raw)
        return failure.isEmpty ? nil : failure
    }
}

/// `text` as a Python string literal.
func pythonLiteral(_ text: String) -> String {
    "'"
        + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'")
        .replacingOccurrences(of: "\n", with: "\\n") + "'"
}
