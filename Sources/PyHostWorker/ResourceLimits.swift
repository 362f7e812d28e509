import PyHostWire

#if canImport(Glibc)
    import Glibc
#endif

/// setrlimit for each of a worker's limits, soft and hard alike so the handler cannot raise them.
///
/// The address space and the private /tmp (a tmpfs, whose pages are memory outside the address
/// space) share the memory setting: RLIMIT_AS is what /tmp leaves of it.
enum ResourceLimits {
    static func apply(_ limits: WorkerLimits) throws {
        let table: [(Int32, UInt64, String)] = [
            (Int32(RLIMIT_AS.rawValue), limits.memoryBytes - min(limits.memoryBytes, limits.fileBytes), "RLIMIT_AS"),
            (Int32(RLIMIT_CPU.rawValue), limits.cpuSeconds, "RLIMIT_CPU"),
            (Int32(RLIMIT_NOFILE.rawValue), limits.openFiles, "RLIMIT_NOFILE"),
            (Int32(__RLIMIT_NPROC.rawValue), limits.threads, "RLIMIT_NPROC"),
            (Int32(RLIMIT_FSIZE.rawValue), limits.fileBytes, "RLIMIT_FSIZE"),
            (Int32(RLIMIT_CORE.rawValue), 0, "RLIMIT_CORE"),
        ]
        for (resource, value, name) in table {
            var limit = rlimit(rlim_cur: rlim_t(value), rlim_max: rlim_t(value))
            try systemCall("setrlimit(\(name))") { setrlimit(__rlimit_resource_t(resource), &limit) }
        }
    }

    /// RLIMIT_AS alone, for an environment's zygote.
    static func limitAddressSpace(_ bytes: UInt64) throws {
        var limit = rlimit(rlim_cur: rlim_t(bytes), rlim_max: rlim_t(bytes))
        try systemCall("setrlimit(RLIMIT_AS)") { setrlimit(__rlimit_resource_t(Int32(RLIMIT_AS.rawValue)), &limit) }
    }
}
