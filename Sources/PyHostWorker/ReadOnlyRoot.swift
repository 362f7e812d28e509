import CPyHostShims
import PyHostWire

#if canImport(Glibc)
    import Glibc
#endif

/// The file system a worker sees: the system's programs and libraries read-only, a few device
/// nodes, and nothing else: no data directory, no checkout, no /root, no /home.
enum ReadOnlyRoot {
    /// Where the new root is assembled, inside the zygote's own mount namespace.
    static let staging = "/tmp"
    /// Top-level entries taken from the host: bound read-only, or recreated as the same symlink.
    static let systemEntries = ["usr", "etc", "bin", "sbin", "lib", "lib32", "lib64", "libx32"]
    static let devices = ["null", "zero", "full", "random", "urandom"]
    /// Files that identify the host, shown empty: /dev/null is bound over each that exists. The
    /// /proc ones are masked by each worker, over its own /proc.
    static let maskedFiles = ["/etc/machine-id", "/etc/hostname"]
    static let maskedProcFiles = ["/proc/cmdline", "/proc/config.gz", "/proc/sys/kernel/random/boot_id"]

    /// A host folder shown read-only at `target` inside the new root.
    struct Bind {
        let source: String
        let target: String

        /// An O_PATH handle on `source`, taken before the staging tmpfs hides the host's /tmp,
        /// where the folder may sit (see `ZygoteConfinement.establish`).
        func open() throws -> Int32 {
            try systemCall("open(\(source))") { Glibc.open(source, ReadOnlyRoot.openPath | O_DIRECTORY | O_CLOEXEC) }
        }
    }

    /// Builds the new root, with each folder of `binds` (paired with its handle from `Bind.open`,
    /// taken in this mount namespace) shown read-only, and enters it.
    static func enter(binds handles: [(Bind, Int32)] = []) throws {
        // Nothing done here may propagate back to the host's mounts.
        try mountCall(nil, "/", nil, UInt(MS_REC | MS_PRIVATE))
        try mountCall("tmpfs", staging, "tmpfs", UInt(MS_NOSUID | MS_NODEV), "size=1m,mode=0755")
        for entry in systemEntries { try take(entry) }
        for directory in ["proc", "dev", "tmp"] { mkdir("\(staging)/\(directory)", 0o755) }
        chmod("\(staging)/tmp", 0o1777)
        // Workers mount a proc of their own PID namespace over this one; the kernel lets a user
        // namespace mount proc only where a full proc is already visible.
        try mountCall("/proc", "\(staging)/proc", nil, UInt(MS_BIND | MS_REC))
        for device in devices {
            let target = "\(staging)/dev/\(device)"
            close(open(target, O_CREAT | O_WRONLY, 0o666))
            try mountCall("/dev/\(device)", target, nil, UInt(MS_BIND))
        }
        try mask(maskedFiles.map { "\(staging)\($0)" })
        for (bind, source) in handles {
            var path = staging
            for part in bind.target.split(separator: "/") {
                path += "/\(part)"
                mkdir(path, 0o755)
            }
            try mountCall("/proc/self/fd/\(source)", path, nil, UInt(MS_BIND | MS_REC))
            try mountCall(nil, path, nil, UInt(MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV))
        }
        // pivot_root(".", ".") stacks the old root under the new one; detaching it leaves the new.
        try systemCall("chdir") { chdir(staging) }
        try systemCall("pivot_root") { pyhost_pivot_root(".", ".") }
        try systemCall("umount2(old root)") { umount2(".", Int32(MNT_DETACH)) }
        try systemCall("chdir") { chdir("/") }
        try mountCall(nil, "/", nil, UInt(MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV))
    }

    private static func take(_ entry: String) throws {
        let host = "/\(entry)"
        var info = stat()
        guard lstat(host, &info) == 0 else { return }
        let target = "\(staging)/\(entry)"
        if info.st_mode & S_IFMT == S_IFLNK {
            var buffer = [CChar](repeating: 0, count: 4096)
            let length = readlink(host, &buffer, buffer.count - 1)
            guard length > 0 else { return }
            buffer[length] = 0
            try systemCall("symlink(\(target))") { symlink(buffer, target) }
        } else if info.st_mode & S_IFMT == S_IFDIR {
            mkdir(target, 0o755)
            try mountCall(host, target, nil, UInt(MS_BIND | MS_REC))
            try mountCall(nil, target, nil, UInt(MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV))
        }
    }

    /// Binds /dev/null over each of `paths` that exists.
    static func mask(_ paths: [String]) throws {
        for path in paths where access(path, F_OK) == 0 {
            try mountCall("/dev/null", path, nil, UInt(MS_BIND))
        }
    }

    /// O_PATH from <fcntl.h>, which Glibc's module does not export: a handle on a folder, for mounting.
    static let openPath: Int32 = 0o1000_0000

    static func mountCall(_ source: String?, _ target: String, _ type: String?, _ flags: UInt, _ data: String? = nil) throws {
        try systemCall("mount(\(target))") {
            mount(source, target, type, flags, data)
        }
    }
}
