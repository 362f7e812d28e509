import Foundation
import PyHostWire
import Testing

@testable import PyHostWorker

@Suite struct SandboxPolicyTests {
    /// Every name in the worker's policy is a syscall of this architecture, or one of the legacy
    /// calls listed as absent on others.
    @Test func everyNameResolves() throws {
        let policy = SandboxPolicy.worker(pid: getpid())
        let resolved = try policy.resolved()
        let left = Set(policy.rules.map(\.syscall)).subtracting(resolved.map(\.rule.syscall))
        #expect(left.isSubset(of: SandboxPolicy.absentOnSomeArchitectures))
        #if arch(x86_64)
            #expect(left.isEmpty, "x86_64 has every call of the policy")
        #endif
    }

    /// A name libseccomp does not know stops the install instead of being skipped.
    @Test func anUnknownNameThrows() {
        let policy = SandboxPolicy(rules: [.init(syscall: "opne", action: .allow, condition: .always)])
        #expect(throws: SystemCallError.self) { try policy.resolved() }
    }

    /// The list of absent names holds only real syscalls, so it cannot hide a typo.
    @Test(arguments: SandboxPolicy.absentOnSomeArchitectures.sorted())
    func absentNamesAreRealCalls(name: String) throws {
        let policy = SandboxPolicy(rules: [.init(syscall: name, action: .allow, condition: .always)])
        #if arch(x86_64)
            #expect(try policy.resolved().count == 1)
        #endif
    }
}
