import Foundation

/// The client's only way to write: standard output and standard error, with control characters
/// shown escaped unless `--raw`, so nothing a server or a handler sends can drive the terminal.
struct TerminalOutput {
    let raw: Bool

    func print(_ text: String) { write(text, to: .standardOutput) }

    func printError(_ text: String) { write(text, to: .standardError) }

    private func write(_ text: String, to handle: FileHandle) {
        handle.write(Data(((raw ? text : escapingControlCharacters(text)) + "\n").utf8))
    }
}

/// `text` with every control character but newline and tab written as an escape: C0 and ESC as
/// `\x1b`, DEL and C1 as `\u009b` (C1 includes CSI, OSC and the other 8-bit introducers).
func escapingControlCharacters(_ text: String) -> String {
    func isControl(_ scalar: Unicode.Scalar) -> Bool {
        (scalar.value < 0x20 && scalar != "\n" && scalar != "\t") || (0x7F...0x9F).contains(scalar.value)
            // Bidirectional overrides and isolates reorder what the terminal shows (Trojan Source).
            || (0x202A...0x202E).contains(scalar.value) || (0x2066...0x2069).contains(scalar.value)
            || scalar.value == 0x200E || scalar.value == 0x200F || scalar.value == 0x061C
    }
    guard text.unicodeScalars.contains(where: isControl) else { return text }
    var escaped = String.UnicodeScalarView()
    for scalar in text.unicodeScalars {
        guard isControl(scalar) else {
            escaped.append(scalar)
            continue
        }
        let digits = String(scalar.value, radix: 16)
        let escape =
            scalar.value < 0x20
            ? "\\x" + String(repeating: "0", count: 2 - digits.count) + digits
            : "\\u" + String(repeating: "0", count: 4 - digits.count) + digits
        escaped.append(contentsOf: escape.unicodeScalars)
    }
    return String(escaped)
}
