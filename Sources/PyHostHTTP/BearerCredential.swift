import HTTPTypes

/// The credentials of a request's `Authorization: Bearer …` fields: the scheme matched in any case
/// (RFC 9110 §11.1), every field read, and each field's comma-separated values (as a proxy joins
/// repeated fields; a bearer credential holds no comma), so no spelling or repetition hides a
/// credential from the checks or from what a handler is shown. Read per call, so over bytes,
/// without allocating.
enum BearerCredential {
    /// The first credential that `matches`.
    static func first(in headers: HTTPFields, where matches: (Substring) -> Bool) -> Substring? {
        for field in headers where field.name == .authorization {
            for value in field.value.split(separator: ",") {
                if let credential = credential(value), matches(credential) { return credential }
            }
        }
        return nil
    }

    /// The credential of one `Authorization` value, when its scheme is Bearer.
    static func credential(_ value: Substring) -> Substring? {
        let bytes = value.utf8
        let isBlank = { (byte: UInt8) in byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        guard let schemeStart = bytes.firstIndex(where: { !isBlank($0) }) else { return nil }
        let scheme = bytes[schemeStart...].prefix(6)
        guard scheme.count == 6, zip(scheme, "bearer".utf8).allSatisfy({ $0 | 0x20 == $1 }),
            let after = bytes[scheme.endIndex...].first, isBlank(after),
            let start = bytes[scheme.endIndex...].firstIndex(where: { !isBlank($0) }),
            let last = bytes.lastIndex(where: { !isBlank($0) })
        else { return nil }
        return Substring(bytes[start...last])
    }
}
