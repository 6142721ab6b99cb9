// swift-tools-version: 6.2
import Foundation
import PackageDescription

// PostgreSQL's own parser (libpg_query, Debian's libpg-query-dev) lints PostgreSQL migrations. Built in
// where its header and shared library are installed (scripts/test installs them): the library's bytes are
// carried inside the binary and loaded from memory the first time a migration is linted (AppPgParser), so
// the packaged binary needs no copy of it and a process that lints nothing pays nothing for it. Elsewhere
// the server builds without it, and `app migrate lint` says what to install.
let pgQueryLibrary: String? = {
    let files = FileManager.default
    guard files.fileExists(atPath: "/usr/include/pg_query.h") else { return nil }
    let multiarch = ((try? files.contentsOfDirectory(atPath: "/usr/lib")) ?? []).filter { $0.hasSuffix("-linux-gnu") }
    let folders = multiarch.sorted().map { "/usr/lib/" + $0 } + ["/usr/lib", "/usr/local/lib"]
    let found = folders.map { $0 + "/libpg_query.so" }.first(where: files.fileExists(atPath:))
    return found.map { URL(fileURLWithPath: $0).resolvingSymlinksInPath().path }
}()
let pgQuery = pgQueryLibrary != nil
// The loader, and the library's bytes (`.incbin` of APP_PG_QUERY_SO).
let pgQueryTargets: [Target] =
    pgQueryLibrary.map { path in
        [.target(name: "AppPgParser", cSettings: [.define("APP_PG_QUERY_SO", to: "\"\(path)\"")])]
    } ?? []

let package = Package(
    name: "migrate-server",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "app", targets: ["AppCLI"])
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-configuration", from: "1.4.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/vapor/postgres-kit", from: "2.17.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/vapor/sqlite-kit", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // The core: config, checks, gate, migrator, sessions, alerts. No HTTP-framework types.
        .target(
            name: "AppCore",
            dependencies: [
                "AppSQLiteShim",
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "PostgresKit", package: "postgres-kit"),
                .product(name: "SQLiteKit", package: "sqlite-kit"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ] + (pgQuery ? ["AppPgParser"] : []),
            swiftSettings: [
                // A concrete generic type's metadata is reached through its metadata function, not looked
                // up by mangled name at run time: each such first look-up checks the type's generic
                // requirements by walking every protocol conformance record of the binary (11 000 with the
                // Swift runtime and Foundation linked in), about 0.2 ms each (docs/benchmarks.md).
                .unsafeFlags(["-Xfrontend", "-disable-concrete-type-metadata-mangled-name-accessors"])
            ] + (pgQuery ? [.define("PG_QUERY")] : [])
        ),
        // Transactional migrations, several in one call on SQLite's thread (`app_migrate_batch`), in C against
        // the SQLite that SQLiteNIO links in.
        .target(name: "AppSQLiteShim"),
        // The HTTP layer: wires the core to Hummingbird routes.
        .target(
            name: "AppServer",
            dependencies: [
                "AppCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdHTTP2", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "AppCLI",
            dependencies: [
                "AppCore",
                "AppServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            // The static Swift runtime's link arguments export every symbol of every module as a dynamic
            // symbol (53 000 of them). Nothing looks them up: no plugin is loaded, and backtraces read
            // the binary's own symbol table. But the runtime's start-up `dladdr` scans all of them, in
            // each process. Release builds keep them local.
            linkerSettings: [.unsafeFlags(["-Xlinker", "--no-export-dynamic"], .when(configuration: .release))]
        ),
        // Benchmarks (scripts/bench): the migrator against sqlite3/psql running the same SQL.
        .executableTarget(
            name: "AppBench",
            dependencies: ["AppCore"]
        ),
        // The baselines scripts/bench measures the server against: a bare Hummingbird app, one route;
        // alone, and linked with every module the server links (none of their code run).
        .target(name: "BareRoute", dependencies: [.product(name: "Hummingbird", package: "hummingbird")]),
        .executableTarget(name: "BareServer", dependencies: ["BareRoute"]),
        .executableTarget(
            name: "BareLinkedServer",
            dependencies: [
                "BareRoute", "AppCore", "AppServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // The tests' seams inside SQLite (a handler run right after a connection commits), in C against the
        // same SQLite. Only the tests link it.
        .target(name: "AppTestSeams", path: "Tests/AppTestSeams"),
        .testTarget(
            name: "AppTests",
            dependencies: [
                "AppCore",
                "AppTestSeams",
                "AppServer",
                "AppCLI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "PostgresKit", package: "postgres-kit"),
            ] + (pgQuery ? ["AppPgParser"] : []),
            exclude: ["Fixtures"],  // read by path: the committed session-token vectors
            swiftSettings: pgQuery ? [.define("PG_QUERY")] : []
        ),
    ] + pgQueryTargets
)
