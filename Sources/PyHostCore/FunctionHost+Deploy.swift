import NIOCore
import PyHostWire

extension FunctionHost {
    /// Validates `body` as a module by loading it in a sandboxed worker, then stores it as the next
    /// version, which serves at once: its first worker is the one that validated it. `isPrivate`,
    /// when given, sets the function's access in the same store transaction as the version, and
    /// in memory just before it serves: a private function is never public for a moment, and a
    /// deploy that fails changes nothing.
    public func deploy(
        name: String, body: ByteBuffer, settings: FunctionSettings = FunctionSettings(), isPrivate: Bool? = nil,
        by actor: String
    ) async throws -> DeployOutcome {
        try FunctionName.validate(name)
        guard body.readableBytes <= configuration.maximumSourceBytes else {
            throw HostError.sourceTooLarge(limit: configuration.maximumSourceBytes)
        }
        guard body.readableBytes > 0 else { throw HostError.emptySource }
        guard let source = String(validating: body.readableBytesView, as: UTF8.self) else { throw HostError.invalidUTF8Source }

        let requirements = Requirements.mayDeclare(source) ? try await installer.resolve(source: source) : nil
        switch try await loader.load(name: name, source: source, memoryMiB: settings.memoryMiB, requirements: requirements) {
        case .failed(let frame):
            return frame.kind == .syntaxError ? .syntaxError(frame.payload) : .importFailed(frame.payload)
        case .ready(let worker):
            let version: FunctionVersion
            var changed: FunctionAccess?
            do {
                version = try await switching.withLock {
                    var current = access(of: name)
                    if let isPrivate, current.isPrivate != isPrivate {
                        current.isPrivate = isPrivate
                        changed = current
                    }
                    let version = try await registry.addVersion(
                        name: name, source: source, requirements: requirements, settings: settings, access: changed, by: actor)
                    if let changed { callers.setAccess(changed, of: name) }
                    await switchTo(version, worker: worker)
                    return version
                }
            } catch {
                worker.terminate()
                throw error
            }
            logger.info("deployed", metadata: ["function": "\(version.key)", "sha256": "\(version.sha256)"])
            return .deployed(version)
        }
    }

    /// Makes an older (or newer) version serve again. Its first worker is loaded before traffic
    /// moves; calls in flight finish on the version they started on.
    /// - Throws: `HostError.versionNotFound`, or what loading the version raised.
    public func rollback(name: String, to version: Int, by actor: String) async throws -> FunctionVersion {
        _ = try function(named: name)
        guard let target = try await registry.version(name: name, version: version) else {
            throw HostError.versionNotFound(name: name, version: version)
        }
        let worker = try await loadStored(target)
        do {
            // Inside the lock, the version must still be the row that was loaded: the function may
            // have been deleted and deployed again meanwhile, numbering its versions anew.
            try await switching.withLock {
                guard try await registry.serve(target, by: actor) else {
                    throw HostError.versionNotFound(name: name, version: version)
                }
                await switchTo(target, worker: worker)
            }
        } catch {
            worker.terminate()
            throw error
        }
        logger.info("rolled back", metadata: ["function": "\(target.key)"])
        return target
    }

    /// Loads a stored version into a new worker of this node, before traffic moves to it: what a
    /// rollback and a change followed from another node (`follow`) do alike.
    /// - Throws: what loading the version raised (`WorkerLoader.noLongerLoads`).
    func loadStored(_ version: FunctionVersion) async throws -> WorkerConnection {
        switch try await loader.load(version) {
        case .ready(let worker): return worker
        case .failed(let frame): throw WorkerLoader.noLongerLoads(version.version, frame)
        }
    }

    /// Moves traffic to `version`, whose loaded `worker` becomes its first warm worker.
    func switchTo(_ version: FunctionVersion, worker: WorkerConnection) async {
        catalog.record(version)
        pool.makeCurrent(version, adopting: worker)
    }
}
