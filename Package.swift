// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "waddleperf",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "waddleperf", targets: ["waddleperf"]),
        .library(name: "ProbeModel", targets: ["ProbeModel"]),
        .library(name: "Engine", targets: ["Engine"]),
        .library(name: "Control", targets: ["Control"]),
        .library(name: "Reports", targets: ["Reports"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        // Control plane: HTTP server, bcrypt + TOTP, JWT (HS256), AES-GCM for secrets at rest.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth", from: "2.5.0"),
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.8.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        // ServiceGroup: the server, the result writer, retention and the echo responder start and stop together.
        // (Already under Hummingbird; named so our targets may import it.)
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        // YAML check lists (`waddleperf run checks.yaml`; the agent's configuration as code).
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        // The test server's live streams (/api/v1/tests/{id}/stream): WebSocket upgrade on the
        // control plane's own router and HTTP/1.1 server (no TLS of its own).
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
        // The server's own /metrics: swift-metrics (what Hummingbird's MetricsMiddleware records
        // to) exported in Prometheus' text format.
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // The agent's client of the control plane (enrolment, config polls, uploads, heartbeats):
        // HTTPS with certificate verification, pooled keep-alive connections, timeouts. Already
        // built for the tests (HummingbirdTesting depends on it).
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    ],
    targets: [
        // Thin C shim: io_uring rings, sockets, ICMP, kernel timestamps, packet build/parse.
        .target(
            name: "CProbe",
            cSettings: [.define("_GNU_SOURCE"), .unsafeFlags(["-O2"])],
            linkerSettings: [.linkedLibrary("uring")]
        ),
        // System libraries behind the control plane's two stores.
        // OpenSSL for the TLS client (inline helpers only for what Swift cannot import).
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        // nghttp2 for the HTTP/2 client (driven through mem_recv/mem_send; the ring does the I/O).
        .systemLibrary(name: "CNghttp2", pkgConfig: "libnghttp2", providers: [.apt(["libnghttp2-dev"])]),
        // ngtcp2 + nghttp3 + GnuTLS for the HTTP/3 client (the ring does the UDP I/O).
        .systemLibrary(name: "CQUIC", pkgConfig: "libngtcp2_crypto_gnutls",
                       providers: [.apt(["libngtcp2-dev", "libngtcp2-crypto-gnutls-dev", "libnghttp3-dev", "libgnutls28-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CMariaDB", pkgConfig: "libmariadb", providers: [.apt(["libmariadb-dev"])]),
        // The shared model: kind declarations, checks (ProbeSpec) and result
        // documents. No C, no I/O: Engine, Control, the CLI and the agent use it.
        .target(name: "ProbeModel"),
        .target(
            name: "Engine",
            dependencies: [
                "ProbeModel",
                "CProbe",
                "COpenSSL",
                "CNghttp2",
                "CQUIC",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        // SQL values, the blocking connection protocol, the SQLite connection and the threads blocking
        // calls run on (`BlockingPool`): the control
        // plane's embedded store and the agent's on-disk result buffer.
        .target(name: "SQLDatabase", dependencies: ["CSQLite", "Engine", .product(name: "Metrics", package: "swift-metrics")]),
        .target(
            name: "Control",
            dependencies: [
                "ProbeModel",
                "Engine",
                "SQLDatabase",
                "CMariaDB",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "HummingbirdOTP", package: "hummingbird-auth"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                // blackbox_exporter-style module files for /probe.
                .product(name: "Yams", package: "Yams"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                // Alert webhooks.
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        // `waddleperf agent`: scheduled checks, the durable result buffer, uploads with
        // idempotency keys, config polls and heartbeats. No server code: it talks HTTP to one.
        .target(
            name: "Agent",
            dependencies: [
                "ProbeModel",
                "Engine",
                "SQLDatabase",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        // Rendering runs for people and machines (table, JSON, NDJSON, CSV, live summary):
        // the CLI prints what it renders; the server and the agent can render the same.
        .target(
            name: "Reports",
            dependencies: ["ProbeModel", "Engine", .product(name: "Histogram", package: "hdrhistogram-swift")]
        ),
        .executableTarget(
            name: "waddleperf",
            dependencies: [
                "ProbeModel",
                "Engine",
                "Reports",
                "Control",
                "Agent",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        // The Swift halves of the control-plane benchmarks (Benchmarks/control.sh).
        .executableTarget(
            name: "waddleperf-bench",
            dependencies: ["Control", "TestSupport", .product(name: "Hummingbird", package: "hummingbird")],
            path: "Benchmarks/ControlBench"
        ),
        .testTarget(name: "CProbeTests", dependencies: ["CProbe"]),
        .testTarget(name: "ProbeModelTests", dependencies: ["ProbeModel"]),
        // The built CLI, run as a process (scripts/test.sh runs it in a process of its own).
        .testTarget(name: "CLITests", dependencies: ["Engine", "TestSupport"]),
        // The Dockerfile and setup scripts against the manifest (no Docker engine here).
        .testTarget(name: "PackagingTests"),
        .testTarget(name: "ReportsTests", dependencies: ["Reports", "Engine", "ProbeModel"]),
        // What several test targets share: the real peers' addresses.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "AgentTests", dependencies: ["Agent", "Engine", "ProbeModel", .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "CProbe", "ProbeModel", "TestSupport"]),
        .testTarget(
            name: "ControlTests",
            dependencies: [
                "Control",
                "Engine",
                "ProbeModel",
                "SQLDatabase",
                "TestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
