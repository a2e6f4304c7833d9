/// The kinds a build knows, and every list derived from their declarations.
/// The engine, the control plane and the CLI read `KindCatalog.builtIn`; a
/// test builds a catalog with a kind of its own and sees each derived list
/// follow.
public struct KindCatalog: Sendable, Hashable {
    public let kinds: [KindDeclaration]
    /// `StoredMetric.summary`, then each stored phase and kind metric in
    /// declaration order, each name once.
    public let storedMetrics: [StoredMetric]

    public init(_ kinds: [KindDeclaration]) {
        var seenKinds = Set<String>()
        for k in kinds { precondition(seenKinds.insert(k.name).inserted, "kind \(k.name) declared twice") }
        self.kinds = kinds
        var metrics = StoredMetric.summary
        var names = Set(metrics.map(\.name))
        for kind in kinds {
            for phase in kind.phases where phase.stored {
                let m = StoredMetric.phaseMean(phase)
                if names.insert(m.name).inserted { metrics.append(m) }
            }
            for field in kind.metrics where names.insert(field.name).inserted {
                metrics.append(StoredMetric(field.name, field.unit, field.summary))
            }
        }
        storedMetrics = metrics
    }

    public static let builtIn = KindCatalog([.icmp, .tcp, .udp, .http])

    public func kind(named name: String) -> KindDeclaration? { kinds.first { $0.name == name } }

    /// Test types a result or check may name.
    public var testTypes: [String] { kinds.map(\.name) }

    /// Values of the statistics `metric` parameter.
    public var statisticMetrics: [String] { storedMetrics.filter(\.isStatistic).map(\.name) }

    public func storedMetric(named name: String) -> StoredMetric? { storedMetrics.first { $0.name == name } }
}
