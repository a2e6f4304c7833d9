import Logging

/// The audit log: security-relevant actions, who did them, from where, and how they ended. A
/// failed write is logged, never thrown: an action that happened is not undone for its record.
struct AuditLog: Sendable {
    let store: Store
    let logger: Logger

    func callAsFunction(actor: String, userID: Int64?, action: String, subject: String, source: String, outcome: String = "success", detail: String = "") async {
        let entry = AuditEntry(at: WallClock.nowMillis(), actorUserID: userID, actor: actor, action: action, subject: subject,
                               sourceAddress: source, outcome: outcome, detail: detail)
        do {
            try await store.audit(entry)
        } catch {
            logger.error("audit log write failed: \(error) for \(action) \(subject)")
        }
    }

    func callAsFunction(_ principal: Principal, _ action: String, subject: String, source: String, outcome: String = "success", detail: String = "") async {
        await self(actor: principal.displayName, userID: principal.user?.id, action: action, subject: subject, source: source, outcome: outcome, detail: detail)
    }
}
