// swift-tools-version:6.0
import PackageDescription

// Layers, bottom to top: CLiburing (C shim) → URing (ring and system calls) →
// HTTP1 (pure protocol: parser, state machine, response writer; no system calls) →
// HTTPServer (the per-process event loop) → Cluster (primary, workers, IPC, balancing) →
// uring-cluster (the CLI). StaticFiles (files through the ring) sits on HTTPServer. Web (router, typed requests and responses, async handlers)
// sits on HTTPServer, beside Cluster: an application is served by one or by many.
// ClusterLifecycle runs a server, a primary or a worker as a swift-service-lifecycle Service.
let package = Package(
    name: "uring-cluster",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "UringCluster", targets: ["Web", "StaticFiles", "Cluster", "HTTPServer", "HTTP1", "URing"]),
        .library(name: "ClusterLifecycle", targets: ["ClusterLifecycle"]),
        .library(name: "WebTesting", targets: ["WebTesting"]),
        .executable(name: "uring-cluster", targets: ["uring-cluster"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-atomics", from: "1.2.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-system", from: "1.4.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
    ],
    targets: [
        .target(
            name: "CLiburing",
            path: "CLiburing",
            linkerSettings: [.linkedLibrary("uring")]
        ),
        .target(name: "URing", dependencies: ["CLiburing", .product(name: "SystemPackage", package: "swift-system")]),
        .target(name: "HTTP1"),
        .target(name: "HTTPServer", dependencies: ["URing", "HTTP1"]),
        .target(
            name: "Cluster",
            dependencies: [
                "HTTPServer", "HTTP1", "URing",
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The application framework: typed requests and responses, a router, async handlers.
        .target(name: "Web", dependencies: ["HTTPServer", "HTTP1", "URing", .product(name: "Logging", package: "swift-log")]),
        // Files under a directory, through the ring: `serve --root`, or mounted before an application.
        .target(name: "StaticFiles", dependencies: ["HTTPServer", "HTTP1", "URing"]),
        // The server, the primary and a worker as swift-service-lifecycle services.
        .target(
            name: "ClusterLifecycle",
            dependencies: [
                "Cluster", "HTTPServer", "URing",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // For tests of applications: a loopback client and a live server on port 0.
        .target(name: "WebTesting", dependencies: ["HTTPServer", "HTTP1", "URing"]),
        .executableTarget(
            name: "uring-cluster",
            dependencies: [
                "HTTPServer", "Cluster", "StaticFiles",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "hello-server",
            dependencies: ["HTTPServer", "HTTP1", "URing"],
            path: "Examples/hello-server"
        ),
        .executableTarget(
            name: "cluster-hello",
            dependencies: ["Cluster", "HTTPServer", "HTTP1", "URing"],
            path: "Examples/cluster-hello"
        ),
        .executableTarget(
            name: "notes-api",
            dependencies: ["Web", "Cluster", "HTTP1", "URing"],
            path: "Examples/notes-api"
        ),
        // A fixture of ServerTests: the cluster API driven from outside.
        .executableTarget(
            name: "cluster-probe",
            dependencies: ["Web", "Cluster", "HTTP1", "URing"],
            path: "Tests/Fixtures/cluster-probe"
        ),
        // A fixture of ServerTests: the primary, its workers and a lone server as services.
        .executableTarget(
            name: "lifecycle-probe",
            dependencies: [
                "ClusterLifecycle", "Web", "Cluster", "HTTPServer", "URing",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/Fixtures/lifecycle-probe"
        ),
        // A fixture of ServerTests, in C (prctl is variadic): a program run under a seccomp
        // filter or without CAP_NET_BIND_SERVICE.
        .executableTarget(name: "restricted", path: "Tests/Fixtures/restricted"),
        .executableTarget(
            name: "web-routes",
            dependencies: ["Web", "HTTPServer", "HTTP1", "URing"],
            path: "Examples/web-routes"
        ),
        // The benchmark harness: its pure part (statistics, wrk's JSON, reports, charts) is a
        // library so that it is tested; the executable runs servers and wrk.
        .target(name: "BenchKit"),
        .executableTarget(
            name: "cluster-bench",
            dependencies: ["BenchKit", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .testTarget(name: "BenchKitTests", dependencies: ["BenchKit"]),
        .testTarget(name: "URingTests", dependencies: ["URing", "CLiburing", .product(name: "SystemPackage", package: "swift-system")]),
        .testTarget(name: "HTTP1Tests", dependencies: ["HTTP1"]),
        .testTarget(name: "StaticFilesTests", dependencies: ["StaticFiles", "HTTP1", "URing"]),
        .testTarget(name: "ClusterTests", dependencies: ["Cluster"]),
        .testTarget(name: "WebTests", dependencies: ["Web", "StaticFiles", "WebTesting", "HTTPServer", "HTTP1", "URing"]),
        .testTarget(name: "ServerTests", dependencies: ["uring-cluster", "cluster-hello", "cluster-bench", "notes-api", "cluster-probe", "lifecycle-probe", "restricted", "WebTesting"]),
    ]
)
