import Testing

@testable import PyHostCore

@Suite struct FunctionNameTests {
    @Test(arguments: ["a", "hello", "sales_by-region", "f0", "a" + String(repeating: "b", count: 62)])
    func acceptsValidNames(name: String) {
        #expect(FunctionName.isValid(name))
    }

    @Test(arguments: [
        "", "Hello", "0abc", "_a", "-a", "a.b", "a b", "a/b", "é", "a" + String(repeating: "b", count: 63), "hello\n",
    ])
    func rejectsInvalidNames(name: String) {
        #expect(!FunctionName.isValid(name))
        #expect(throws: HostError.invalidName(name)) { try FunctionName.validate(name) }
    }
}
