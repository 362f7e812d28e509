import NIOCore

/// Whether bytes are exactly one JSON text (RFC 8259, UTF-8). A worker runs user code and may write
/// any frame to its channel, so the server checks a result's bytes before it sends them as
/// `application/json` or splices them into the `?logs=true` envelope, where a forged fragment
/// could otherwise add fields of its own.
///
/// One pass, no allocation but the nesting stack, so it costs little next to the call it checks.
public enum JSONSyntax {
    public static func isValid(_ buffer: ByteBuffer) -> Bool {
        buffer.withUnsafeReadableBytes { bytes in
            var scanner = Scanner(bytes: bytes)
            return scanner.document()
        }
    }

    private struct Scanner {
        let bytes: UnsafeRawBufferPointer
        var index = 0

        init(bytes: UnsafeRawBufferPointer) {
            self.bytes = bytes
        }

        private var current: UInt8? { index < bytes.count ? bytes[index] : nil }

        mutating func document() -> Bool {
            guard value() else { return false }
            skipSpace()
            return index == bytes.count
        }

        /// One value; containers are walked with an explicit stack, so depth cannot exhaust the thread's.
        private mutating func value() -> Bool {
            var open: [UInt8] = []
            while true {
                skipSpace()
                guard let first = current else { return false }
                switch first {
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    index += 1
                    skipSpace()
                    let close = first == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
                    if current == close {
                        index += 1
                    } else {
                        open.append(first)
                        if first == UInt8(ascii: "{") { guard key() else { return false } }
                        continue
                    }
                case UInt8(ascii: "\""): guard string() else { return false }
                case UInt8(ascii: "t"): guard literal("true") else { return false }
                case UInt8(ascii: "f"): guard literal("false") else { return false }
                case UInt8(ascii: "n"): guard literal("null") else { return false }
                default: guard number() else { return false }
                }
                // A value ended: close what it ends, or go on to the next element.
                while let container = open.last {
                    skipSpace()
                    guard let separator = current else { return false }
                    index += 1
                    if separator == UInt8(ascii: ",") {
                        if container == UInt8(ascii: "{") { guard key() else { return false } }
                        break
                    }
                    let close = container == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
                    guard separator == close else { return false }
                    open.removeLast()
                }
                if open.isEmpty { return true }
            }
        }

        private mutating func key() -> Bool {
            skipSpace()
            guard current == UInt8(ascii: "\""), string() else { return false }
            skipSpace()
            guard current == UInt8(ascii: ":") else { return false }
            index += 1
            return true
        }

        private mutating func skipSpace() {
            while let byte = current, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { index += 1 }
        }

        private mutating func literal(_ word: StaticString) -> Bool {
            let count = word.utf8CodeUnitCount
            guard bytes.count - index >= count else { return false }
            for offset in 0..<count where bytes[index + offset] != word.utf8Start[offset] { return false }
            index += count
            return true
        }

        private mutating func digits() -> Int {
            let start = index
            while let byte = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) { index += 1 }
            return index - start
        }

        private mutating func number() -> Bool {
            if current == UInt8(ascii: "-") { index += 1 }
            if current == UInt8(ascii: "0") {
                index += 1
            } else if digits() == 0 {
                return false
            }
            if current == UInt8(ascii: ".") {
                index += 1
                guard digits() > 0 else { return false }
            }
            if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
                index += 1
                if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
                guard digits() > 0 else { return false }
            }
            return true
        }

        /// A string from its opening quote: escapes as JSON allows them, no control characters,
        /// and well-formed UTF-8 (no overlong forms, no surrogates).
        private mutating func string() -> Bool {
            index += 1
            while let byte = current {
                index += 1
                switch byte {
                case UInt8(ascii: "\""):
                    return true
                case UInt8(ascii: "\\"):
                    guard let escaped = current else { return false }
                    index += 1
                    switch escaped {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                        UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                        continue
                    case UInt8(ascii: "u"):
                        for _ in 0..<4 {
                            guard let hex = current, hex.isHexDigit else { return false }
                            index += 1
                        }
                    default:
                        return false
                    }
                case 0..<0x20:
                    return false
                case 0x80...:
                    guard multibyte(lead: byte) else { return false }
                default:
                    continue
                }
            }
            return false
        }

        /// The continuation bytes after `lead` (already read), with the ranges of Unicode's Table 3-7.
        private mutating func multibyte(lead: UInt8) -> Bool {
            let (count, second): (Int, ClosedRange<UInt8>)
            switch lead {
            case 0xC2...0xDF: (count, second) = (1, 0x80...0xBF)
            case 0xE0: (count, second) = (2, 0xA0...0xBF)
            case 0xE1...0xEC, 0xEE...0xEF: (count, second) = (2, 0x80...0xBF)
            case 0xED: (count, second) = (2, 0x80...0x9F)
            case 0xF0: (count, second) = (3, 0x90...0xBF)
            case 0xF1...0xF3: (count, second) = (3, 0x80...0xBF)
            case 0xF4: (count, second) = (3, 0x80...0x8F)
            default: return false
            }
            for position in 0..<count {
                guard let byte = current, position == 0 ? second.contains(byte) : (0x80...0xBF).contains(byte) else { return false }
                index += 1
            }
            return true
        }
    }
}

extension UInt8 {
    fileprivate var isHexDigit: Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(self)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(self)
    }
}
