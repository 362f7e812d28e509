#if canImport(Glibc)
    import Glibc
#endif

/// A failed system call: its name and errno.
public struct SystemCallError: Error, CustomStringConvertible, Equatable {
    public let call: String
    public let errno: Int32

    public init(call: String, errno: Int32) {
        self.call = call
        self.errno = errno
    }

    public var description: String {
        "\(call): \(String(cString: strerror(errno))) (errno \(errno))"
    }
}

/// Runs a system call that reports failure as -1 with errno, retrying on EINTR.
/// - Throws: `SystemCallError` naming `name`.
@discardableResult
public func systemCall<Result: FixedWidthInteger>(_ name: String, _ call: () -> Result) throws -> Result {
    while true {
        let result = call()
        if result != -1 { return result }
        let error = Glibc.errno
        if error == EINTR { continue }
        throw SystemCallError(call: name, errno: error)
    }
}
