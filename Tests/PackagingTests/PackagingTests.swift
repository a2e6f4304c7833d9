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
        // Every folder a target of the manifest lives in is copied before the build.
        let manifest = try read("Package.swift")
        for path in Self.quoted(after: "path: \"", in: manifest) {
            let top = path.split(separator: "/").prefix(2).joined(separator: "/")
            #expect(dockerfile.contains("COPY \(top) \(top)") || dockerfile.contains("COPY Tests Tests") && path.hasPrefix("Tests/"),
                    "the Dockerfile does not copy \(path)")
        }
        #expect(dockerfile.contains("COPY Sources Sources"))
        #expect(!manifest.contains(".testTarget(") || dockerfile.contains("COPY Tests Tests"))
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

    /// Every system library the manifest links (`pkgConfig:` and `.linkedLibrary`) has its
    /// -dev package in the build list. The libraries are read from the manifest, not assumed:
    /// one the table does not know fails, and so does a manifest in which none are found.
    @Test func linkedLibrariesHaveTheirDevPackages() throws {
        let manifest = try read("Package.swift")
        let build = try packages("scripts/packages-build.txt")
        let devPackages = ["uring": ["liburing-dev"], "sqlite3": ["libsqlite3-dev"], "libmariadb": ["libmariadb-dev"],
                           "openssl": ["libssl-dev"], "libnghttp2": ["libnghttp2-dev"],
                           "libngtcp2_crypto_gnutls": ["libngtcp2-dev", "libngtcp2-crypto-gnutls-dev", "libnghttp3-dev", "libgnutls28-dev"]]
        let linked = Self.quoted(after: "pkgConfig: \"", in: manifest) + Self.quoted(after: ".linkedLibrary(\"", in: manifest)
        #expect(Set(linked) == Set(devPackages.keys), "the manifest links \(linked)")
        for library in linked {
            let dev = try #require(devPackages[library], "no -dev package known for \(library)")
            for p in dev { #expect(build.contains(p), "\(p) (for \(library)) missing from packages-build.txt") }
        }
    }

    /// The strings that follow each `prefix` up to the next quote.
    static func quoted(after prefix: String, in text: String) -> [String] {
        text.components(separatedBy: prefix).dropFirst().compactMap { $0.split(separator: "\"", maxSplits: 1).first.map(String.init) }
    }
}
