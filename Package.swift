// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "waddleperf",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "waddleperf", targets: ["waddleperf"]),
        .library(name: "Engine", targets: ["Engine"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
    ],
    targets: [
        // Thin C shim: io_uring rings, sockets, ICMP, kernel timestamps, packet build/parse.
        .target(
            name: "CProbe",
            cSettings: [.define("_GNU_SOURCE"), .unsafeFlags(["-O2"])],
            linkerSettings: [.linkedLibrary("uring")]
        ),
        .target(
            name: "Engine",
            dependencies: [
                "CProbe",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        .target(name: "Control", dependencies: ["Engine"]),
        .executableTarget(
            name: "waddleperf",
            dependencies: [
                "Engine",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "CProbeTests", dependencies: ["CProbe"]),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "CProbe"]),
    ],
    swiftLanguageModes: [.v6]
)
