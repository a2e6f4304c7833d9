import Foundation
import Testing

/// No Docker engine runs here, so the Dockerfile cannot be built in CI; this
/// keeps what it installs in step with the setup scripts' package lists.
@Suite struct PackagingTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func read(_ path: String) throws -> String {
        try String(contentsOf: Self.root.appendingPathComponent(path), encoding: .utf8)
    }

    func packages(_ path: String) throws -> [String] {
        try read(path).split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
    }

    @Test func dockerfileInstallsTheScriptPackageLists() throws {
        let dockerfile = try read("docker/Dockerfile")
        #expect(dockerfile.contains("COPY scripts/packages-build.txt"))
        #expect(dockerfile.contains("COPY scripts/packages-runtime.txt"))
        #expect(dockerfile.contains("FROM swift:6") && dockerfile.contains("bookworm"))
        #expect(dockerfile.contains("FROM debian:bookworm-slim"))
        // The build list is what the setup scripts install too.
        for script in ["scripts/test.sh", "scripts/serve.sh"] {
            #expect(try read(script).contains("scripts/packages-build.txt"), "\(script)")
        }
        // Every -dev package in the build list has its runtime library in the runtime list.
        let runtime = try packages("scripts/packages-runtime.txt")
        let runtimeFor = ["liburing-dev": "liburing2", "libsqlite3-dev": "libsqlite3-0", "libmariadb-dev": "libmariadb3",
                          "libssl-dev": "libssl3", "libnghttp2-dev": "libnghttp2-14",
                          "libngtcp2-dev": "libngtcp2-9", "libngtcp2-crypto-gnutls-dev": "libngtcp2-crypto-gnutls2",
                          "libnghttp3-dev": "libnghttp3-3", "libgnutls28-dev": "libgnutls30"]
        for dev in try packages("scripts/packages-build.txt") where dev.hasSuffix("-dev") {
            let lib = try #require(runtimeFor[dev], "no runtime package known for \(dev)")
            #expect(runtime.contains(lib), "\(lib) missing from packages-runtime.txt")
        }
    }

    @Test func linkedLibrariesHaveTheirDevPackages() throws {
        let manifest = try read("Package.swift")
        let build = try packages("scripts/packages-build.txt")
        if manifest.contains(".linkedLibrary(\"uring\")") { #expect(build.contains("liburing-dev")) }
        if manifest.contains("pkgConfig: \"sqlite3\"") { #expect(build.contains("libsqlite3-dev")) }
        if manifest.contains("pkgConfig: \"libmariadb\"") { #expect(build.contains("libmariadb-dev")) }
        if manifest.contains("pkgConfig: \"openssl\"") { #expect(build.contains("libssl-dev")) }
        if manifest.contains("pkgConfig: \"libnghttp2\"") { #expect(build.contains("libnghttp2-dev")) }
        if manifest.contains("pkgConfig: \"libngtcp2_crypto_gnutls\"") {
            for p in ["libngtcp2-dev", "libngtcp2-crypto-gnutls-dev", "libnghttp3-dev", "libgnutls28-dev"] {
                #expect(build.contains(p), "\(p)")
            }
        }
    }
}
