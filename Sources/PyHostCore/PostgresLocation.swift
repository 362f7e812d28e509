import Foundation

/// Where a shared PostgreSQL store is: `postgres://user[:password]@host[:port]/database`.
/// The password may also come from `PGPASSWORD`, so the URL a command line shows needs none.
public struct PostgresLocation: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String

    /// - Parameter environmentPassword: `PGPASSWORD`, used when the URL carries no password.
    /// - Throws: `StoreLocationError` naming what is wrong with `text`.
    public init(url text: String, environmentPassword: String? = nil) throws(StoreLocationError) {
        guard let url = URLComponents(string: text), ["postgres", "postgresql"].contains(url.scheme ?? "") else {
            throw StoreLocationError("must look like postgres://user@host:port/database")
        }
        guard let host = url.host, !host.isEmpty else { throw StoreLocationError("names no host") }
        guard let username = url.user, !username.isEmpty else { throw StoreLocationError("names no user (postgres://USER@host/database)") }
        let database = String(url.path.drop { $0 == "/" })
        guard !database.isEmpty, !database.contains("/") else {
            throw StoreLocationError("names no database (postgres://user@host/DATABASE)")
        }
        guard url.queryItems == nil, url.fragment == nil else {
            throw StoreLocationError("takes no query or fragment: the connection is plain TCP, the password in the URL or PGPASSWORD")
        }
        guard (1...65535).contains(url.port ?? 5432) else { throw StoreLocationError("has a port outside 1–65535") }
        self.host = host
        self.port = url.port ?? 5432
        self.username = username
        self.password = url.password ?? environmentPassword.flatMap { $0.isEmpty ? nil : $0 }
        self.database = database
    }

    /// The URL without its password, for logs and errors.
    public var description: String { "postgres://\(username)@\(host):\(port)/\(database)" }
}

/// A `--store` or `PYHOST_STORE` value that is not a PostgreSQL URL pyhost can use.
public struct StoreLocationError: Error, CustomStringConvertible {
    public let reason: String

    init(_ reason: String) {
        self.reason = reason
    }

    public var description: String { "the store URL \(reason)" }
}
