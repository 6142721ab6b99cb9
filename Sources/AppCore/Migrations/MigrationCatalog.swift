import Foundation
import SQLKit
import Synchronization

/// The migrations a server or a command works with: the built-in set, or a folder's (possibly invalid).
///
/// A folder's catalog is read again as the folder is now by `current()`, which the migrator calls at
/// the start of every run, status and command: a file added to the folder of a running server is
/// applied by the next call, without a restart.
public struct MigrationCatalog: Sendable {
    public var migrations: [Migration]
    /// Set when the folder cannot be used; then `migrations` is empty and nothing is applied.
    public var invalid: MigrationsInvalid?
    /// The folder, or nil for the built-in set.
    public var folder: String?
    /// The folder's format, whose tool's history is kept beside the server's; nil for the built-in set.
    public var format: MigrationFormat?
    /// For a folder in a layout several tools share, those tools (no format, no migrations yet): the
    /// database's history picks one (`resolved`).
    var candidates: [MigrationFormat] = []
    /// What reads the folder again; nil for the built-in set and for a catalog made of given migrations.
    let reader: FolderReader?

    public init(
        migrations: [Migration], invalid: MigrationsInvalid? = nil, folder: String? = nil,
        format: MigrationFormat? = nil
    ) {
        self.init(migrations: migrations, invalid: invalid, folder: folder, format: format, reader: nil)
    }

    init(
        migrations: [Migration], invalid: MigrationsInvalid?, folder: String?, format: MigrationFormat?,
        reader: FolderReader?
    ) {
        self.migrations = migrations.sorted(by: Migration.precedes)
        self.invalid = invalid
        self.folder = folder
        self.format = format
        self.reader = reader
    }

    /// The built-in set (the NextAuth.js adapter tables) when `folder` is nil, else the folder's
    /// migrations, in `format` (`MIGRATIONS_FORMAT`) or the one recognised from the folder.
    /// `rereads`: `current()` reads the folder again when it changed (a server); false for a one-shot
    /// command, which works with the folder as it read it at its start, and so spares every entry's
    /// `stat` that telling a change apart takes.
    public static func load(folder: String?, format: String? = nil, dialect: SQLEngine, rereads: Bool = true)
        -> MigrationCatalog
    {
        guard let folder else { return MigrationCatalog(migrations: Migration.all) }
        return FolderReader(folder: folder, setting: format, dialect: dialect, rereads: rereads).read()
    }

    /// The catalog as the folder is now: read again when anything in it changed since it was last
    /// read (an entry added, removed, or written to), else the one read then. For a catalog loaded
    /// without `rereads`, the one read then.
    public func current() -> MigrationCatalog {
        guard let reader, reader.rereads else { return self }
        return reader.read()
    }

    /// For a folder in a shared layout, the catalog in the format of the one candidate whose history
    /// table the database holds (laid out as that tool lays it out); invalid when it holds none of
    /// theirs, or more than one. Any other catalog as it is.
    func resolved(_ db: any SQLDatabase, engine: any DatabaseEngine) async throws -> MigrationCatalog {
        guard !candidates.isEmpty, let reader, let folder else { return self }
        let names = try await MigrationTools.tableNames(db, engine: engine)
        var held: [MigrationFormat] = []
        for candidate in candidates where try await candidate.history.isPresent(in: names, db, engine: engine) {
            held.append(candidate)
        }
        if held.count == 1 { return reader.read(format: held[0]) }
        let tools = candidates.map { "\($0.rawValue)'s" }.joined(separator: " and ")
        let tables = candidates.map { "\($0.rawValue): \($0.history.table)" }.joined(separator: ", ")
        let reason =
            held.isEmpty
            ? "the folder is laid out as \(tools) folders are, and the database holds no history of \(candidates.count == 1 ? "that tool" : "those tools") (\(tables)) to tell which wrote it"
            : "the folder is laid out as \(tools) folders are, and the database holds the histories of \(held.map(\.rawValue).joined(separator: " and "))"
        return MigrationCatalog(
            migrations: [],
            invalid: MigrationsInvalid(
                file: folder, line: nil, reason: reason + "; set MIGRATIONS_FORMAT to the tool that wrote it"),
            folder: folder, format: nil, reader: reader)
    }

    /// Reads `folder` in `setting`'s format (`MIGRATIONS_FORMAT`) or the one recognised.
    static func read(
        folder: String, setting: String?, format chosen: MigrationFormat? = nil, dialect: SQLEngine,
        reader: FolderReader?
    ) -> MigrationCatalog {
        do throws(MigrationsInvalid) {
            var format = chosen
            if let setting, chosen == nil {
                guard let known = MigrationFormat(setting: setting) else {
                    throw MigrationsInvalid(
                        file: folder, line: nil,
                        reason: "MIGRATIONS_FORMAT \"\(setting)\" is none of \(MigrationFormat.names)")
                }
                format = known
            }
            let loaded = try MigrationFolder.load(folder, format: format, dialect: dialect)
            var catalog = MigrationCatalog(
                migrations: loaded.migrations, invalid: nil, folder: folder, format: loaded.format, reader: reader)
            catalog.candidates = loaded.candidates
            return catalog
        } catch {
            return MigrationCatalog(migrations: [], invalid: error, folder: folder, format: nil, reader: reader)
        }
    }
}

/// Reads a folder of migrations, again only when it changed: the no-op call of a running server costs
/// a walk of the folder's entries (a `stat` each), not a parse of every file.
final class FolderReader: Sendable {
    let folder: String
    let setting: String?
    let dialect: SQLEngine
    /// False: every read is a read of the files, with no stamp taken or kept (`MigrationCatalog.current()`
    /// does not read again).
    let rereads: Bool
    /// The last read in each format asked for ("" for `setting`'s or the one recognised).
    private let last = Mutex<[String: (stamp: FolderStamp, catalog: MigrationCatalog)]>([:])

    init(folder: String, setting: String?, dialect: SQLEngine, rereads: Bool = true) {
        self.folder = folder
        self.setting = setting
        self.dialect = dialect
        self.rereads = rereads
    }

    /// The folder's catalog in `format`, or in `setting`'s or the recognised one when nil.
    func read(format: MigrationFormat? = nil) -> MigrationCatalog {
        guard rereads else {
            return MigrationCatalog.read(
                folder: folder, setting: setting, format: format, dialect: dialect, reader: self)
        }
        let key = format?.rawValue ?? ""
        // Stamped before reading: a change made while the folder is read makes the next stamp differ.
        let stamp = FolderStamp(folder)
        if let last = last.withLock({ $0[key] }), last.stamp == stamp { return last.catalog }
        let catalog = MigrationCatalog.read(
            folder: folder, setting: setting, format: format, dialect: dialect, reader: self)
        // File times tick coarsely (a few milliseconds): a folder changed within the last second may
        // change again, at the same size, with the same times. It is read again until it has settled.
        last.withLock { $0[key] = stamp.isSettled ? (stamp, catalog) : nil }
        return catalog
    }
}

/// What a folder's entries are now, down to three levels (a tool's sub-folders, as Prisma's and
/// Drizzle's): each one's name, inode, size, modification and change times. Two stamps are equal when
/// nothing was added, removed, replaced or written to in between.
struct FolderStamp: Equatable {
    struct Entry: Equatable {
        var path: String
        var inode: UInt64
        var size: Int64
        var modified: timespec
        var changed: timespec

        init(path: String, inode: UInt64, size: Int64, modified: timespec, changed: timespec) {
            self.path = path
            self.inode = inode
            self.size = size
            self.modified = modified
            self.changed = changed
        }

        init(path: String, _ info: stat) {
            self.init(
                path: path, inode: UInt64(info.st_ino), size: Int64(info.st_size), modified: info.st_mtim,
                changed: info.st_ctim)
        }

        static func == (a: Entry, b: Entry) -> Bool {
            a.path == b.path && a.inode == b.inode && a.size == b.size
                && a.modified.tv_sec == b.modified.tv_sec && a.modified.tv_nsec == b.modified.tv_nsec
                && a.changed.tv_sec == b.changed.tv_sec && a.changed.tv_nsec == b.changed.tv_nsec
        }
    }

    var entries: [Entry] = []
    /// True when no entry changed in the second before the stamp was taken.
    private(set) var isSettled = true

    init(_ folder: String) {
        add(folder, depth: 0)
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        isSettled = entries.allSatisfy { now.tv_sec - $0.changed.tv_sec >= 2 }
    }

    static func == (a: FolderStamp, b: FolderStamp) -> Bool { a.entries == b.entries }

    private mutating func add(_ path: String, depth: Int) {
        var info = stat()
        guard stat(path, &info) == 0 else {
            entries.append(Entry(path: path, inode: 0, size: -1, modified: timespec(), changed: timespec()))
            return
        }
        entries.append(Entry(path: path, info))
        if info.st_mode & S_IFMT == S_IFDIR { addChildren(of: path, depth: depth) }
    }

    /// The entries of the folder `path`, each `stat`ed through the folder's descriptor (no path to
    /// resolve again for each), and their sub-folders' down to the depth.
    private mutating func addChildren(of path: String, depth: Int) {
        guard depth < 3, let dir = opendir(path) else { return }
        defer { closedir(dir) }
        let fd = dirfd(dir)
        var children: [(name: String, info: stat)] = []
        while let entry = readdir(dir) {
            let name = MigrationFolder.Listing.name(of: entry)
            guard name != "." && name != ".." else { continue }
            var info = stat()
            if fstatat(fd, name, &info, 0) != 0 { info.st_size = -1 }
            children.append((name, info))
        }
        children.sort { $0.name < $1.name }
        for child in children {
            entries.append(Entry(path: child.name, child.info))
            if child.info.st_mode & S_IFMT == S_IFDIR {
                addChildren(of: MigrationFolder.Listing.join(path, child.name), depth: depth + 1)
            }
        }
        // Closes the folder's list: an entry of a sub-folder and one of the same name after it differ.
        entries.append(Entry(path: "/", inode: 0, size: 0, modified: timespec(), changed: timespec()))
    }
}
