import Dispatch
import Foundation
import NIOCore
import NIOPosix
import PyHostWire
import PyHostWorker

// The role is chosen before any async code runs: the zygote must stay single-threaded to fork.
let arguments = CommandLine.arguments
if arguments.count >= 3 && arguments[1] == Zygote.roleArgument {
    let options = Array(arguments.dropFirst(3))
    Zygote.run(
        runtimeDirectory: arguments[2], allowWeakerSandbox: options.contains(Zygote.allowWeakerArgument),
        environment: ZygoteEnvironment.parse(options))
}

// Swift concurrency runs on NIO's event-loop threads: a handler, the pool and the worker channels
// then share threads instead of handing every call across two thread pools.
_ = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()

Task {
    await PyHostCommand.main()
    exit(0)
}
dispatchMain()
