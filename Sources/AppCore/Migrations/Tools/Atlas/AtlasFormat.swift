import Foundation

/// Atlas's versioned format (ariga/atlas `sql/migrate`): every `.sql` file of the folder, in name order,
/// `<version>_<description>.sql` (the version is the text before the first `_`), with `atlas.sum`
/// beside them, checked before anything runs as Atlas checks it (`AtlasSum`). File directives in the
/// comment lines at the top: `-- atlas:txmode none` runs the file outside a transaction (Atlas's
/// default is one per file). Atlas's history is `atlas_schema_revisions` (`AtlasHistory`).
enum AtlasFormat {
    static let sumFile = "atlas.sum"

    /// The `atlas:<name>` directives of the file's leading comment lines, with their arguments.
    static func directives(_ text: String) -> [(name: String, arguments: String, line: Int)] {
        var found: [(String, String, Int)] = []
        for (index, line) in text.lines().enumerated() {
            guard line.hasPrefix("--") || line.hasPrefix("#") else { break }
            guard let range = line.range(of: "atlas:") else { continue }
            let rest = line[range.upperBound...]
            let name = rest.prefix(while: { $0.isLetter || $0.isNumber || $0 == "_" })
            found.append((String(name), rest.dropFirst(name.count).trimmingSpaces(), index + 1))
        }
        return found
    }

    static func load(_ folder: MigrationFolder.Listing, dialect: SQLEngine) throws(MigrationsInvalid) -> [Migration] {
        let files = folder.sqlFiles
        let sums = try checkSum(folder, files)
        var migrations: [Migration] = []
        for file in files {
            let text = try folder.text(of: file)
            var transactional = true
            for directive in directives(text) {
                switch directive.name {
                case "txmode":
                    switch directive.arguments {
                    case "none": transactional = false
                    case "file": transactional = true
                    default:
                        throw MigrationsInvalid(
                            file: file, line: directive.line,
                            reason: "unknown txmode \"\(directive.arguments)\" (a file's txmode is none or file)")
                    }
                case "delimiter", "checkpoint":
                    throw MigrationsInvalid(
                        file: file, line: directive.line,
                        reason: "the atlas:\(directive.name) directive is not supported; run this folder with Atlas")
                default: continue  // atlas:sum, atlas:nolint: nothing to do when running
                }
            }
            let stem = String(file.dropLast(4))
            let version = String(stem.prefix(while: { $0 != "_" }))
            migrations.append(
                Migration(
                    id: stem,
                    statements: try MigrationFolder.statements(text, file: file, lineOffset: 0, dialect: dialect),
                    down: nil, transactional: transactional, downTransactional: true,
                    checksum: Migration.checksum(ofSection: text), toolKey: version,
                    toolChecksums: [sums.entries.first(where: { $0.name == file })?.hash ?? ""],
                    orderKey: Migration.textOrderKey(file)
                ))
        }
        return migrations
    }

    /// The folder's sum as its files are now.
    static func sum(_ folder: MigrationFolder.Listing, _ files: [String]) throws(MigrationsInvalid) -> AtlasSum {
        var read: [(name: String, bytes: Data)] = []
        for file in files { read.append((file, try folder.raw(of: file))) }
        return AtlasSum(files: read)
    }

    /// Refuses a folder whose `atlas.sum` is missing, broken, or not the sum of its files, naming the
    /// file added, edited or removed, as Atlas refuses it.
    @discardableResult
    static func checkSum(_ folder: MigrationFolder.Listing, _ files: [String]) throws(MigrationsInvalid) -> AtlasSum {
        let expected = try sum(folder, files)
        guard folder.fileExists(sumFile) else {
            if files.isEmpty { return expected }
            throw MigrationsInvalid(
                file: sumFile, line: nil,
                reason: "missing; Atlas checks the folder against it (atlas migrate hash writes it)")
        }
        guard let recorded = AtlasSum(text: String(decoding: try folder.raw(of: sumFile), as: UTF8.self)) else {
            throw MigrationsInvalid(
                file: sumFile, line: nil, reason: "not in Atlas's format, or its total is not the sum of its lines")
        }
        if let found = AtlasSum.mismatch(recorded: recorded, expected: expected) {
            throw MigrationsInvalid(
                file: found.file, line: nil,
                reason:
                    "\(found.reason) since atlas.sum was written: the folder does not match its sum, as Atlas checks it "
                    + "(run atlas migrate hash if the change is meant)")
        }
        return expected
    }
}

extension MigrationFormat {
    static let atlas = MigrationFormat(declaring: "atlas")
}

extension AtlasFormat: MigrationTool {
    static var format: MigrationFormat { .atlas }
    static let markers = ["atlas:"]
    static var history: any ToolHistory { AtlasHistory() }

    /// `atlas.sum` beside the files.
    static func fits(_ folder: MigrationFolder.Listing) -> Bool {
        folder.fileExists(sumFile)
    }

    /// `atlas migrate new <name>`: an empty `<timestamp>_<name>.sql`; `afterNew` writes `atlas.sum` anew.
    static func newFiles(stamp: String, slug: String) -> [(name: String, text: String)]? {
        [("\(stamp)_\(slug).sql", "")]
    }

    static func afterNew(folder path: String) throws(MigrationsInvalid) {
        let folder = try MigrationFolder.Listing(path)
        let text = try sum(folder, folder.sqlFiles).text
        do {
            try Data(text.utf8).write(to: URL(fileURLWithPath: MigrationFolder.Listing.join(path, sumFile)))
        } catch {
            throw MigrationsInvalid(
                file: sumFile, line: nil, reason: "cannot be written: \(error.localizedDescription)")
        }
    }
}
