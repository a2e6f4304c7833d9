import ProbeModel

/// The metric values of one stored result, by position in
/// `ResultMetrics.declared` (the catalog's stored metrics, in order). Inline,
/// so a row costs no allocation for them: the upload and listing paths handle
/// 100k rows a second.
public struct ResultMetrics: Sendable, Equatable {
    /// The stored metrics, derived from the kind declarations: the columns
    /// after `received`, the upload's metric fields, the listing's keys, the
    /// statistics `metric` values.
    public static let declared: [StoredMetric] = {
        let metrics = KindCatalog.builtIn.storedMetrics
        precondition(metrics.count <= capacity, "more stored metrics than ResultMetrics holds")
        return metrics
    }()
    /// Largest number of stored metrics a build may declare.
    public static let capacity = 32

    private var values = InlineArray<32, Double>(repeating: 0)
    private var present: UInt32 = 0

    public init() {}

    /// The position of a declared metric.
    public static func index(of name: String) -> Int? { declared.firstIndex { $0.name == name } }

    public subscript(_ index: Int) -> Double? {
        get { present & (1 << UInt32(index)) != 0 ? values[index] : nil }
        set {
            if let newValue {
                values[index] = newValue
                present |= 1 << UInt32(index)
            } else {
                present &= ~(1 << UInt32(index))
            }
        }
    }

    /// A declared metric by name (`latency_ms`); setting an undeclared name is a programming error.
    public subscript(_ name: String) -> Double? {
        get { Self.index(of: name).flatMap { self[$0] } }
        set {
            guard let i = Self.index(of: name) else { preconditionFailure("\(name) is not a stored metric") }
            self[i] = newValue
        }
    }

    public static func == (a: ResultMetrics, b: ResultMetrics) -> Bool {
        guard a.present == b.present else { return false }
        for i in 0..<declared.count where a.present & (1 << UInt32(i)) != 0 {
            if a.values[i] != b.values[i] { return false }
        }
        return true
    }
}
