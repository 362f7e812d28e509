import HTTPTypes

/// The credentials of a request's `Authorization: Bearer …` fields: the scheme matched in any case
/// (RFC 9110 §11.1), every field read, so no spelling or repetition hides a credential from the
/// checks or from what a handler is shown.
enum BearerCredential {
    static func all(in headers: HTTPFields) -> [Substring] {
        headers[values: .authorization].compactMap(credential)
    }

    /// The credential of one `Authorization` value, when its scheme is Bearer.
    static func credential(_ value: String) -> Substring? {
        let trimmed = value.drop { $0 == " " || $0 == "\t" }
        guard trimmed.count > 7, trimmed.prefix(6).lowercased() == "bearer", [" ", "\t"].contains(trimmed.dropFirst(6).first)
        else { return nil }
        let credential = trimmed.dropFirst(6).drop { $0 == " " || $0 == "\t" }
        let end = credential.lastIndex { $0 != " " && $0 != "\t" }
        return end.map { credential[...$0] }
    }
}
