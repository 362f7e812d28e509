import Dispatch
import Foundation
import PyHostWorker

// The role is chosen before any async code runs: the zygote must stay single-threaded to fork.
let arguments = CommandLine.arguments
if arguments.count >= 3 && arguments[1] == Zygote.roleArgument {
    Zygote.run(runtimeDirectory: arguments[2], allowWeakerSandbox: arguments.dropFirst(3).contains(Zygote.allowWeakerArgument))
}

Task {
    await PyHostCommand.main()
    exit(0)
}
dispatchMain()
