import Glibc
import Testing

@testable import PyHostWire

@Suite struct WorkerExitTests {
    @Test(arguments: [
        (Int32(0), WorkerExit.exited(code: 0)),
        (Int32(3 << 8), WorkerExit.exited(code: 3)),
        (SIGKILL, WorkerExit.killed(signal: SIGKILL)),
        (SIGSYS, WorkerExit.killed(signal: SIGSYS)),
        (SIGSEGV | 0x80, WorkerExit.killed(signal: SIGSEGV)),  // with the core-dump bit
    ])
    func decodesWaitStatus(status: Int32, expected: WorkerExit) {
        #expect(WorkerExit(waitStatus: status) == expected)
    }

    @Test func explainsWhatASignalMeans() {
        #expect(WorkerExit.killed(signal: SIGSYS).explanation.contains("SIGSYS: it made a system call the sandbox forbids"))
        #expect(WorkerExit.killed(signal: SIGSEGV).explanation.contains("SIGSEGV"))
        #expect(WorkerExit.exited(code: 3).explanation == "the worker exited with code 3")
        #expect(WorkerExit.exited(code: WorkerExit.sandboxSetupFailed).explanation.contains("sandbox could not be set up"))
    }
}
