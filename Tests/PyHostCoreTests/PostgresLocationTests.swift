import Testing

@testable import PyHostCore

@Suite struct PostgresLocationTests {
    @Test func aURLNamesHostPortUserAndDatabase() throws {
        let location = try PostgresLocation(url: "postgres://pyhost@db.internal:6543/functions", environmentPassword: "from-env")
        #expect(location.host == "db.internal" && location.port == 6543)
        #expect(location.username == "pyhost" && location.database == "functions")
        #expect(location.password == "from-env")
        #expect(location.description == "postgres://pyhost@db.internal:6543/functions")
    }

    @Test func thePortDefaultsTo5432AndAPasswordInTheURLWinsButIsNeverShown() throws {
        let location = try PostgresLocation(url: "postgresql://pyhost:s3cret@db/functions", environmentPassword: "other")
        #expect(location.port == 5432 && location.password == "s3cret")
        #expect(!location.description.contains("s3cret"))
    }

    @Test(arguments: [
        ("mysql://u@h/d", "must look like"), ("postgres://h/d", "names no user"), ("postgres://u@h", "names no database"),
        ("postgres://u@h/d?sslmode=require", "takes no query"), ("postgres://u@h:70000/d", "port"), ("", "must look like"),
    ])
    func aBadURLSaysWhatIsWrong(url: String, reason: String) {
        #expect {
            try PostgresLocation(url: url)
        } throws: { error in
            "\(error)".contains(reason)
        }
    }
}
