// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "pyhost",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "pyhost", targets: ["pyhost"]),
        .executable(name: "http-floor", targets: ["http-floor"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/groue/GRDB.swift.git", exact: "7.10.0"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    ],
    targets: [
        // System libraries: only the C shim includes their headers.
        .systemLibrary(name: "CPython", path: "Modules/CPython", pkgConfig: "python3-embed",
                       providers: [.apt(["libpython3-dev"])]),
        .systemLibrary(name: "CSeccomp", path: "Modules/CSeccomp", pkgConfig: "libseccomp",
                       providers: [.apt(["libseccomp-dev"])]),
        // The thin C shim over CPython, libseccomp and the variadic Linux calls.
        .target(name: "CPyHostShims", dependencies: ["CPython", "CSeccomp"], path: "Modules/CPyHostShims"),
        // Messages shared by the server and the zygote.
        .target(name: "PyHostWire", dependencies: [
            "CPyHostShims",
            .product(name: "NIOCore", package: "swift-nio"),
        ]),
        // The zygote and the sandboxed worker process: no HTTP, no threads.
        .target(name: "PyHostWorker", dependencies: ["CPyHostShims", "PyHostWire"]),
        // The host core: zygote client, worker channels, pool, registry. No HTTP.
        .target(name: "PyHostCore", dependencies: [
            "CPyHostShims", "PyHostWire",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "DequeModule", package: "swift-collections"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // Routes and the mapping of errors to HTTP responses.
        .target(name: "PyHostHTTP", dependencies: [
            "PyHostCore", "PyHostWire",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ], resources: [.copy("Resources/openapi.json"), .copy("Console")]),
        .executableTarget(name: "pyhost", dependencies: [
            "PyHostWorker", "PyHostHTTP", "PyHostWire",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // The floor of the shape for python/bench.py: SwiftNIO's HTTP/1 server with nothing of pyhost.
        .executableTarget(name: "http-floor", dependencies: [
            "PyHostWire",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "DequeModule", package: "swift-collections"),
        ]),
        .testTarget(name: "PyHostWireTests", dependencies: ["PyHostWire"]),
        .testTarget(name: "PyHostWorkerTests", dependencies: ["PyHostWorker", "PyHostWire"]),
        .testTarget(name: "PyHostCoreTests", dependencies: [
            "PyHostCore", "PyHostWire",
            .product(name: "NIOEmbedded", package: "swift-nio"),
        ]),
        .testTarget(name: "PyHostHTTPTests", dependencies: [
            "PyHostHTTP",
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
        ]),
    ],
    swiftLanguageModes: [.v6]
)
