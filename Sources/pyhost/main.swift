import Dispatch
import Foundation
import NIOCore
import NIOPosix
import PyHostWorker

// The role is chosen before any async code runs: the zygote must stay single-threaded to fork.
let arguments = CommandLine.arguments
if arguments.count >= 3 && arguments[1] == Zygote.roleArgument {
    Zygote.run(runtimeDirectory: arguments[2], allowWeakerSandbox: arguments.dropFirst(3).contains(Zygote.allowWeakerArgument))
}

// Swift concurrency runs on NIO's event-loop threads: a handler, the pool and the worker channels
// then share threads instead of handing every call across two thread pools.
_ = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()

Task {
    await PyHostCommand.main()
    exit(0)
}
dispatchMain()
