// swift-tools-version: 6.1
import PackageDescription

// Module graph (acyclic; see docs/architecture.md):
//   BulwarkCore  <- BulwarkAuth <- BulwarkSessions
//   BulwarkCore  <- BulwarkVenue
//   BulwarkCore  <- BulwarkStore <- BulwarkPostgres (PostgresNIO)
//   BulwarkVenue <- BulwarkVenueRPC (gRPC server + RemoteVenue client; Protos/venue.proto)
//   all of them  <- BulwarkGateway <- bulwark (executable)
//   BulwarkCore  <- BulwarkAuth <- BulwarkClient (the Swift client library) <- bulwark (bench)
let strict: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let package = Package(
    name: "Bulwark",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "bulwark", targets: ["bulwark"]),
        .library(name: "BulwarkCore", targets: ["BulwarkCore"]),
        .library(name: "BulwarkGateway", targets: ["BulwarkGateway"]),
        // The Swift client library (docs/clients.md): what a trading program links.
        .library(name: "BulwarkClient", targets: ["BulwarkClient"]),
        // For the hot-path benchmarks (Benchmarks/, a package of its own).
        .library(name: "BulwarkAuth", targets: ["BulwarkAuth"]),
        .library(name: "BulwarkVenue", targets: ["BulwarkVenue"]),
        .library(name: "BulwarkStore", targets: ["BulwarkStore"]),
        .library(name: "BulwarkPostgres", targets: ["BulwarkPostgres"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-configuration.git", from: "1.4.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        // The venue as its own process (docs/operations.md, "Running the venue separately").
        .package(url: "https://github.com/grpc/grpc-swift-2.git", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", from: "2.9.2"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
    ],
    targets: [
        .target(
            name: "BulwarkCore",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict),
        .target(
            name: "BulwarkAuth",
            dependencies: [
                "BulwarkCore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: strict),
        .target(
            name: "BulwarkSessions",
            dependencies: ["BulwarkCore", "BulwarkAuth"],
            swiftSettings: strict),
        .target(
            name: "BulwarkVenue",
            dependencies: ["BulwarkCore"],
            swiftSettings: strict),
        .target(
            name: "BulwarkVenueRPC",
            dependencies: [
                "BulwarkCore", "BulwarkVenue",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        .target(
            name: "BulwarkStore",
            dependencies: [
                "BulwarkCore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict),
        .target(
            name: "BulwarkPostgres",
            dependencies: [
                "BulwarkCore", "BulwarkStore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        .target(
            name: "BulwarkGateway",
            dependencies: [
                "BulwarkCore", "BulwarkAuth", "BulwarkSessions", "BulwarkVenue", "BulwarkVenueRPC", "BulwarkStore", "BulwarkPostgres",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: strict),
        .target(
            name: "BulwarkClient",
            dependencies: [
                "BulwarkCore", "BulwarkAuth",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: strict),
        .executableTarget(
            name: "bulwark",
            dependencies: [
                "BulwarkGateway", "BulwarkCore", "BulwarkAuth", "BulwarkStore", "BulwarkClient", "BulwarkVenueRPC",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                // `bulwark bench`, the load generator (docs/benchmarks.md).
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            swiftSettings: strict),
        .testTarget(name: "BulwarkCoreTests", dependencies: ["BulwarkCore"], swiftSettings: strict),
        .testTarget(
            name: "BulwarkAuthTests",
            dependencies: ["BulwarkAuth", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict),
        .testTarget(name: "BulwarkSessionsTests", dependencies: ["BulwarkSessions"], swiftSettings: strict),
        .testTarget(name: "BulwarkVenueTests", dependencies: ["BulwarkVenue"], swiftSettings: strict),
        .testTarget(
            name: "BulwarkStoreTests",
            dependencies: [
                "BulwarkStore", "BulwarkPostgres", "BulwarkCore", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "BulwarkClientTests",
            dependencies: [
                "BulwarkClient", "BulwarkCore", "BulwarkAuth",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "BulwarkVenueRPCTests",
            dependencies: [
                "BulwarkVenueRPC", "BulwarkVenue", "BulwarkCore", .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "BulwarkGatewayTests",
            dependencies: [
                "BulwarkGateway",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
    ]
)
