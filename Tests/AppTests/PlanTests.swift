import Testing

@testable import AppCore

/// The plan is a pure function of the migrations and both histories: every rule checked on values,
/// with no database.
@Suite("planning a run, without a database")
struct PlanTests {
    static let migrations = ["1_a", "2_b", "3_c", "10_d"].map { Migration(id: $0, statements: ["SELECT 1"]) }

    static func row(_ id: String, _ state: HistoryState = .applied, checksum: String? = nil) -> AppliedMigration {
        let migration = migrations.first { $0.id == id }
        return AppliedMigration(
            id: id, checksum: checksum ?? migration?.checksum ?? "x", appliedAt: "t", executionMs: 1, state: state)
    }

    static func plan(
        _ rows: [AppliedMigration], tool: ToolLedger? = nil, legacy: Bool = false, keepsToolHistory: Bool = false
    ) -> Plan {
        Plan(migrations, Ledger(rows: rows, tool: tool, legacy: legacy), keepsToolHistory: keepsToolHistory)
    }

    @Test("without a tool's table the server's rows decide; pending in version order; a running row is neither")
    func rowsDecide() throws {
        let plan = Self.plan([Self.row("1_a"), Self.row("3_c", .running)])
        #expect(plan.applied.map(\.id) == ["1_a"])
        #expect(try plan.checked().map(\.id) == ["2_b", "10_d"])
        #expect(plan.running == "3_c")
        #expect(plan.toAdopt.isEmpty && plan.toForget.isEmpty)
        #expect(!plan.needsReconcile)
    }

    @Test(
        "an applied migration whose checksum differs is drift, the first in order named; a pending one's is not looked at"
    )
    func drift() {
        let plan = Self.plan([
            Self.row("1_a"), Self.row("2_b", checksum: "edited"), Self.row("10_d", checksum: "edited too"),
        ])
        #expect(plan.drifted == "2_b")
        #expect(throws: MigrationError.drift(migration: "2_b")) { try plan.checked() }
        #expect(
            Self.plan([Self.row("1_a")], tool: ToolLedger(applied: ["1_a"], drifted: "1_a"), keepsToolHistory: true)
                .drifted == "1_a")
        #expect(Self.plan([Self.row("1_a")]).drifted == nil)
    }

    @Test(
        "the tool's table decides where it exists: its applied migrations without a row are adopted, rows it lacks are forgotten, a running row never"
    )
    func toolDecides() throws {
        let tool = ToolLedger(applied: ["1_a", "2_b"])
        let plan = Self.plan(
            [Self.row("1_a"), Self.row("3_c"), Self.row("10_d", .running)], tool: tool, keepsToolHistory: true)
        #expect(plan.applied.map(\.id) == ["1_a", "2_b"])
        #expect(plan.toAdopt.map(\.id) == ["2_b"])
        #expect(plan.toForget.map(\.id) == ["3_c"])
        #expect(try plan.checked().map(\.id) == ["3_c"], "10_d is marked running")
        #expect(plan.needsReconcile)
    }

    @Test(
        "a run has history to bring up to date: the legacy table, the tool's table missing, or the two disagreeing; not when they agree, nor for the built-in set"
    )
    func needsReconcile() {
        #expect(Self.plan([], legacy: true).needsReconcile)
        #expect(Self.plan([Self.row("1_a")], tool: nil, keepsToolHistory: true).needsReconcile)
        #expect(
            !Self.plan([Self.row("1_a")], tool: ToolLedger(applied: ["1_a"]), keepsToolHistory: true).needsReconcile)
        #expect(!Self.plan([Self.row("1_a")], tool: nil, keepsToolHistory: false).needsReconcile)
    }

    @Test("a pending migration older than the newest applied one is out of order, by version as a number")
    func outOfOrder() {
        let plan = Self.plan([Self.row("1_a"), Self.row("10_d")])
        #expect(plan.outOfOrder.map(\.id) == ["2_b", "3_c"])
        #expect(Self.plan([Self.row("1_a"), Self.row("2_b")]).outOfOrder.isEmpty)
    }

    @Test(
        "the status: adopted rows shown for the tool's, rows of no migration unknown, the tool's interrupted one named and not pending"
    )
    func status() {
        let rows = [Self.row("1_a"), Self.row("0_gone")]
        let ledger = Ledger(rows: rows, tool: ToolLedger(applied: ["1_a", "2_b"], interrupted: "3_c"))
        let status = Plan(Self.migrations, ledger, keepsToolHistory: true).status(Self.migrations, ledger)
        #expect(status.applied.map(\.id) == ["0_gone", "1_a", "2_b"])
        #expect(status.applied.map(\.state) == [.applied, .applied, .adopted])
        #expect(status.unknown == ["0_gone"])
        #expect(status.interrupted == ["3_c"])
        #expect(status.pending == ["10_d"])
        #expect(status.migrations.map(\.state) == [.applied, .applied, .interrupted, .pending])
    }
}
