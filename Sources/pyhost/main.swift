import Dispatch
import Foundation
import PyHostWorker

// The role is chosen before any async code runs: the zygote must stay single-threaded to fork.
if CommandLine.arguments.count == 3 && CommandLine.arguments[1] == Zygote.roleArgument {
    Zygote.run(runtimeDirectory: CommandLine.arguments[2])
}

Task {
    await PyHostCommand.main()
    exit(0)
}
dispatchMain()
