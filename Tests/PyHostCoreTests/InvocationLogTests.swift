import Foundation
import Testing

@testable import PyHostCore

@Suite struct InvocationLogTests {
    private func record(_ id: Int, logs: Int) -> InvocationRecord {
        InvocationRecord(
            id: String(id), version: 1, instance: "i", startedAt: Date(timeIntervalSince1970: 0), milliseconds: 1, status: 200,
            logs: String(repeating: "x", count: logs))
    }

    @Test func keepsTheLastRecordsUpToItsCapacity() {
        let log = InvocationLog(capacity: 3)
        for id in 1...5 { log.append(record(id, logs: 0), to: "f") }
        #expect(log.records(of: "f").map(\.id) == ["5", "4", "3"])
    }

    @Test func aFunctionKeepsNoMoreThanItsByteBudget() {
        let log = InvocationLog(capacity: 100, functionBytes: 3 * 1128, hostBytes: 1 << 20)
        for id in 1...10 { log.append(record(id, logs: 1000), to: "f") }
        #expect(log.records(of: "f").map(\.id) == ["10", "9", "8"])
    }

    @Test func pastTheHostsBudgetTheLargestFunctionGivesWay() {
        let log = InvocationLog(capacity: 100, functionBytes: 1 << 20, hostBytes: 4 * 1128)
        log.append(record(1, logs: 1000), to: "quiet")
        for id in 2...9 { log.append(record(id, logs: 1000), to: "noisy") }
        #expect(log.records(of: "quiet").map(\.id) == ["1"])
        #expect(log.records(of: "noisy").map(\.id) == ["9", "8", "7"])
    }

    @Test func removingAFunctionFreesItsBudget() {
        let log = InvocationLog(capacity: 100, functionBytes: 1 << 20, hostBytes: 2 * 1128)
        log.append(record(1, logs: 1000), to: "gone")
        log.append(record(2, logs: 1000), to: "gone")
        log.remove("gone")
        log.append(record(3, logs: 1000), to: "kept")
        log.append(record(4, logs: 1000), to: "kept")
        #expect(log.records(of: "kept").map(\.id) == ["4", "3"])
    }
}
