import ArgumentParser

/// The `pyhost` command line.
struct PyHostCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pyhost",
        abstract: "Serve Python functions (with pandas) over HTTP from warm, sandboxed workers.",
        version: "0.1.0",
        subcommands: [
            ServeCommand.self, DeployCommand.self, InvokeCommand.self, ListCommand.self, LogsCommand.self,
            RollbackCommand.self, DeleteCommand.self, KeysCommand.self, AccessCommand.self, AuditCommand.self,
        ]
    )
}
