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

    /// An environment's zygote keeps a worker's filter except for what forking workers needs.
    @Test func theEnvironmentZygotesFilterIsAWorkersPlusForking() throws {
        let worker = SandboxPolicy.worker(pid: getpid())
        let zygote = SandboxPolicy.environmentZygote(pid: getpid())
        _ = try zygote.resolved()
        let changed = Set(SandboxPolicy.forking + ["clone", "mount"])
        let kept = { (policy: SandboxPolicy) in policy.rules.filter { !changed.contains($0.syscall) }.map { "\($0.syscall) \($0.action)" } }
        #expect(kept(zygote) == kept(worker))
        for name in SandboxPolicy.forking {
            #expect(zygote.rules.filter { $0.syscall == name }.map(\.action) == [.allow], "\(name)")
        }
        // Processes only into a new PID namespace (or threads): fork, vfork, exec and sockets stay refused.
        let clone = zygote.rules.filter { $0.syscall == "clone" }
        #expect(clone.count == 2 && clone.contains { $0.action == .fail(errno: EPERM) })
        // Mounts, but no move or remount: those would uncover the host's /proc or unlock the root.
        let mount = zygote.rules.filter { $0.syscall == "mount" }
        #expect(mount.count == 2 && mount.contains { $0.action == .fail(errno: EPERM) })
        for name in ["fork", "vfork", "execve", "socket", "connect", "ptrace"] {
            #expect(zygote.rules.first { $0.syscall == name }?.action == .fail(errno: EPERM), "\(name)")
        }
    }
}
