import ProbeModel

extension CheckRun.CheckSummary {
    /// The check's result document: counts, outcome, and every stored metric its kind declares.
    func document(spec: ProbeSpec, prepared: PreparedCheck) -> ResultDocument {
        switch (self, prepared) {
        case (.probe(let s), .probe(let kind, let target, _)):
            return ResultDocument(summary: s, kind: kind.declaration, target: target, as: spec.target)
        case (.http(let s), .http(let target, _)):
            return ResultDocument(summary: s, target: target, as: spec.target)
        default:
            preconditionFailure("a summary of another kind than its check")
        }
    }
}

extension ResultDocument {
    /// A probe kind's summary as a document. A check succeeds when its target answered at least
    /// once; otherwise its outcome is the most frequent failure (`timeout`, `refused`,
    /// `unreachable`, `error`, `unresolved`). Loss counts every probe that was not answered;
    /// latencies (ms) come from the answered ones only.
    public init(summary s: ProbeSummary, kind: KindDeclaration, target: ProbeTarget, as written: String) {
        let failures: [(String, UInt64)] = [("timeout", s.timeouts), ("refused", s.refused), ("unreachable", s.unreachable),
                                            ("error", s.errors), ("unresolved", s.unresolved)]
        let worst = failures.max { $0.1 < $1.1 }!
        self.init(testType: kind.name, target: written,
                  outcome: s.received > 0 || s.sent == 0 ? "success" : worst.0, success: s.received > 0)
        resolvedAddress = target.isResolved ? target.endpoint : nil
        sent = Int64(s.sent)
        received = Int64(s.received)
        metrics["loss_percent"] = s.lossPercent
        metrics.merge(Self.latencyMetrics(s.latency)) { $1 }
        let phases = [s.latency] + s.secondaryPhases
        for (i, phase) in kind.phases.enumerated() where phase.stored && i < phases.count {
            if let mean = phases[i].mean { metrics[phase.name + "_ms"] = mean / 1e6 }
        }
        if let failure = target.resolutionFailure { details["resolution_error"] = .text(failure) }
        if s.lastTTL >= 0 { details["ttl"] = .number(Double(s.lastTTL)) }
        if s.duplicates > 0 { details["duplicates"] = .number(Double(s.duplicates)) }
        if s.reordered > 0 { details["reordered"] = .number(Double(s.reordered)) }
    }

    /// An HTTP check's summary. Cold (new connection) and warm requests are merged here: a
    /// document is one figure per metric. Success as for the probe kinds: at least one
    /// accepted response.
    public init(summary s: HTTPProbeSummary, target: HTTPProbeTarget, as written: String) {
        let worst = s.outcomes.filter { $0.key != "success" }.max { $0.value != $1.value ? $0.value < $1.value : $0.key > $1.key }
        self.init(testType: KindDeclaration.http.name, target: written,
                  outcome: s.succeeded > 0 || s.sent == 0 ? "success" : worst?.key ?? "error", success: s.succeeded > 0)
        resolvedAddress = target.failedResolution == nil ? target.address.endpoint(port: target.request.url.port) : nil
        protocolDetail = s.lastProtocol
        sent = Int64(s.sent)
        received = Int64(s.succeeded)
        metrics["loss_percent"] = s.lossPercent
        var merged = s.cold
        merged.absorb(s.warm)
        metrics.merge(Self.latencyMetrics(merged.total)) { $1 }
        for phase in KindDeclaration.http.phases where phase.stored {
            if let mean = merged[phase.name]?.mean { metrics[phase.name + "_ms"] = mean / 1e6 }
        }
        if let throughput = s.lastThroughput { metrics["throughput_mbps"] = throughput * 8 / 1e6 }
        if let status = s.lastStatus { details["status"] = .number(Double(status)) }
        if let tls = s.lastTLS {
            details["tls_version"] = .text(tls.version)
            details["days_to_expiry"] = .number(Double(tls.daysToExpiry))
            if tls.notAfter > 0 { details["cert_not_after"] = .number(Double(tls.notAfter)) }
        }
        if let bytes = s.lastBodyBytes { details["body_bytes"] = .number(Double(bytes)) }
        if s.sent > 0 { details["redirects"] = .number(Double(s.lastRedirects)) }
        if let message = s.lastMessage, !success { details["message"] = .text(message) }
    }

    /// latency_ms (mean), min, max, p50, p99, jitter (mean absolute consecutive difference) and
    /// stddev, in milliseconds, of the answered probes.
    static func latencyMetrics(_ l: LatencyStatistics) -> [String: Double] {
        var m: [String: Double] = [:]
        guard l.count > 0 else { return m }
        m["latency_ms"] = l.mean.map { $0 / 1e6 }
        m["min_ms"] = l.min.map { Double($0) / 1e6 }
        m["max_ms"] = l.max.map { Double($0) / 1e6 }
        m["p50_ms"] = l.percentile(50).map { Double($0) / 1e6 }
        m["p99_ms"] = l.percentile(99).map { Double($0) / 1e6 }
        m["stddev_ms"] = l.standardDeviation.map { $0 / 1e6 }
        if let j = l.jitterMeanAbsoluteDifference { m["jitter_ms"] = j / 1e6 }
        return m
    }
}
