/// A function's name: `^[a-z][a-z0-9_-]{0,62}$`, so it is safe in a URL, a file name and a log line.
public enum FunctionName {
    public static let maximumLength = 63

    public static func isValid(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, bytes.count <= maximumLength, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first)
        else { return false }
        return bytes.dropFirst().allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }
    }

    /// - Throws: `HostError.invalidName` unless `name` is valid.
    public static func validate(_ name: String) throws {
        guard isValid(name) else { throw HostError.invalidName(name) }
    }
}
