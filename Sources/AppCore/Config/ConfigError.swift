/// A configuration problem that stops startup. Messages name the variable, never its value.
public enum ConfigError: Error, Equatable, CustomStringConvertible {
    case invalidDatabaseURL(String)
    case invalidPort
    case invalidLockTimeout
    case invalidLogLevel
    case unreadableFile(String)

    public var description: String {
        switch self {
        case .invalidDatabaseURL(let reason):
            "DATABASE_URL is malformed: \(reason). Expected sqlite:///absolute/path, sqlite://relative/path or postgres://user:password@host:port/database"
        case .invalidPort:
            "PORT must be a whole number from 0 to 65535"
        case .invalidLockTimeout:
            "MIGRATION_LOCK_TIMEOUT must be a number of seconds from 0 to 3600"
        case .invalidLogLevel:
            "LOG_LEVEL must be one of trace, debug, info, notice, warning, error, critical"
        case .unreadableFile(let name):
            "\(name) could not be read as UTF-8 text"
        }
    }
}
