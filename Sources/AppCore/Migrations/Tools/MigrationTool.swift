import Foundation

/// A migration tool whose folders the server reads as they are, keeping the tool's own history table
/// beside the server's. Each tool is one folder under `Tools/`: how its folder is recognised and read,
/// how a new migration is written, and its history table. `MigrationTools.all` lists them.
protocol MigrationTool: Sendable {
    /// The tool's name, as `MIGRATIONS_FORMAT` names it.
    static var format: MigrationFormat { get }
    /// The comment markers the tool's files carry: what follows `--` (and any blanks), in lower case.
    /// A file read as another tool's that holds one of them is refused (`ToolMarkers`).
    static var markers: [String] { get }
    /// True when the folder carries the tool's own evidence: its markers, its marker file, or a layout
    /// only it uses. Never a guess: a folder that fits no tool is invalid.
    static func fits(_ folder: MigrationFolder.Listing) -> Bool
    /// True when the folder is laid out as the tool lays out its folders, in a layout other tools share
    /// (`.up.sql`/`.down.sql` pairs: golang-migrate's and sqlx's). Such a folder is read as the tool
    /// whose history table the database holds (`MigrationCatalog.resolved`), never as a guess.
    static func sharesLayout(_ folder: MigrationFolder.Listing) -> Bool
    /// After `app migrate new` wrote `newFiles` into the folder at `path`: what the tool's own command
    /// does next (Atlas writes `atlas.sum` anew).
    static func afterNew(folder path: String) throws(MigrationsInvalid)
    /// The folder's migrations, in any order (the caller sorts them).
    static func load(_ folder: MigrationFolder.Listing, dialect: SQLEngine) throws(MigrationsInvalid) -> [Migration]
    /// The files of a new, empty migration, as the tool itself writes them (`stamp` is the UTC
    /// `yyyyMMddHHmmss` version); nil where the tool writes more than files (Drizzle's journal).
    static func newFiles(stamp: String, slug: String) -> [(name: String, text: String)]?
    /// The tool's history table.
    static var history: any ToolHistory { get }
}

extension MigrationTool {
    static func sharesLayout(_ folder: MigrationFolder.Listing) -> Bool { false }
    static func afterNew(folder path: String) throws(MigrationsInvalid) {}
}

/// A tool's name, as `MIGRATIONS_FORMAT` takes it; each tool's folder declares its own
/// (`MigrationFormat.dbmate`, …), and `MigrationTools.all` says which exist.
public struct MigrationFormat: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String

    /// For a tool's own declaration.
    init(declaring name: String) { rawValue = name }

    /// The format of that name, or nil for a name that is none of the tools'.
    public init?(rawValue: String) {
        guard MigrationTools.all.contains(where: { $0.format.rawValue == rawValue }) else { return nil }
        self.rawValue = rawValue
    }

    /// `MIGRATIONS_FORMAT`'s value, or nil for a name that is none of the formats.
    public init?(setting: String) {
        self.init(rawValue: setting.trimmingSpaces().lowercased())
    }

    public static var allCases: [MigrationFormat] { MigrationTools.all.map { $0.format } }

    static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }

    public var description: String { rawValue }

    /// The tool of this name.
    var tool: any MigrationTool.Type {
        guard let tool = MigrationTools.all.first(where: { $0.format == self }) else {
            preconditionFailure("\(rawValue) is declared but not in MigrationTools.all")
        }
        return tool
    }

    /// The files of a new, empty migration, as the tool itself writes them.
    public func newFiles(stamp: String, slug: String) -> [(name: String, text: String)]? {
        tool.newFiles(stamp: stamp, slug: slug)
    }

    /// What the tool's own command does after writing a new migration into `folder` (Atlas: `atlas.sum`).
    public func wroteNewFiles(in folder: String) throws(MigrationsInvalid) {
        try tool.afterNew(folder: folder)
    }

    /// The tool's history table for this format.
    var history: any ToolHistory { tool.history }
}
