import CPyHostShims
import PyHostWire

#if canImport(Glibc)
    import Glibc
#endif

/// The namespaces the zygote enters once, so that every worker it forks starts inside them, and
/// the namespaces each worker gets of its own.
///
/// Order (the zygote is single-threaded, as unshare(PYHOST_CLONE_NEWUSER) requires):
/// 1. a user namespace, whose uid/gid maps the server writes from the parent namespace; the zygote
///    then takes uid 0 of the namespace, which is an unprivileged host uid (`hostBase`);
/// 2. with the capabilities that namespace grants: mount, network, IPC and UTS namespaces;
/// 3. a read-only root that holds only the system (`ReadOnlyRoot`), and for an environment's
///    zygote its packages and the runtime;
/// 4. a probe of the per-worker namespaces (PID, mount, IPC), so a spawn never fails on them.
struct ZygoteConfinement {
    /// Host uid and gid that uid/gid 0 of the zygote's user namespace map to; 65536 ids are mapped.
    static let hostBase = 100_000
    /// The uid and gid of the first worker inside the namespace (host `hostBase + workerID`); each
    /// live worker takes the next free one, so that RLIMIT_NPROC, which the kernel counts per uid,
    /// bounds each worker's threads alone.
    static let workerID: UInt32 = 1000
    /// How many workers can each have an identity of their own: the ids mapped above `workerID`.
    static let workerSlots = 65536 - Int(workerID)

    private(set) var active: [SandboxLayer] = []
    private(set) var missing: [MissingLayer] = []
    /// clone(2) flags for each worker: its own PID, mount and IPC namespaces where available.
    private(set) var workerNamespaces: UInt = 0

    static func establish(control: ControlSocket, binds: [ReadOnlyRoot.Bind] = []) throws -> ZygoteConfinement {
        var confinement = ZygoteConfinement()
        let mapped = try confinement.enterUserNamespace(control: control)
        // Folders to show are opened in the mount namespace they will be bound in, while the
        // process still has the server's uid: they may lie where only the server may go.
        var handles: [(ReadOnlyRoot.Bind, Int32)] = []
        defer { handles.forEach { close($0.1) } }
        if !binds.isEmpty {
            confinement.attempt(.mountNamespace) {
                try systemCall("unshare(mount_namespace)") { pyhost_unshare(Int32(PYHOST_CLONE_NEWNS)) }
            }
            handles = try binds.map { ($0, try $0.open()) }
        }
        if let mapped { confinement.takeNamespaceIdentity(fullRange: mapped) }
        let userNamespace = confinement.active.contains(.userNamespace)
        for (flag, layer) in [
            (PYHOST_CLONE_NEWNS, SandboxLayer.mountNamespace), (PYHOST_CLONE_NEWNET, .networkNamespace),
            (PYHOST_CLONE_NEWIPC, .ipcNamespace), (PYHOST_CLONE_NEWUTS, .utsNamespace),
        ] where !confinement.active.contains(layer) {
            confinement.attempt(layer) { try systemCall("unshare(\(layer.rawValue))") { pyhost_unshare(Int32(flag)) } }
        }
        if confinement.active.contains(.mountNamespace) {
            confinement.attempt(.readOnlyRoot) { try ReadOnlyRoot.enter(binds: handles) }
        }
        if confinement.active.contains(.utsNamespace) {
            _ = sethostname("pyhost", 6)
        }
        confinement.probeWorkerNamespaces()
        if confinement.workerIdentity != nil {
            confinement.record(.unprivilegedIdentity, userNamespace || getuid() == 0 ? nil : "pyhost is not root")
        }
        return confinement
    }

    /// The identity a worker switches to: an unprivileged uid inside the user namespace, the host's
    /// `nobody` when there is no user namespace, or none when only one id is mapped.
    private(set) var workerIdentity: UInt32? = 65534

    /// The identity of the worker in `slot` (0 for the first live worker): its own uid when the
    /// full range is mapped, else the one identity there is.
    func workerIdentity(slot: Int) -> UInt32? {
        guard let identity = workerIdentity, identity == Self.workerID else { return workerIdentity }
        return identity + UInt32(slot % Self.workerSlots)
    }

    /// Enters a user namespace and has the server map its ids. Returns whether the full range was
    /// mapped, or nil when there is no user namespace.
    private mutating func enterUserNamespace(control: ControlSocket) throws -> Bool? {
        guard pyhost_unshare(Int32(PYHOST_CLONE_NEWUSER)) == 0 else {
            record(.userNamespace, "unshare(PYHOST_CLONE_NEWUSER): \(SystemCallError(call: "unshare", errno: errno))")
            return nil
        }
        try control.send(ZygoteEvent.identityMapRequested)
        guard let (reply, _) = try control.receive(ZygoteRequest.self), case .identityMapped(let fullRange, let error) = reply
        else {
            throw SystemCallError(call: "identity map handshake", errno: EPROTO)
        }
        if let error {
            record(.userNamespace, error)
            return nil
        }
        return fullRange
    }

    /// Takes uid and gid 0 of the namespace: only then do the process's file accesses become
    /// those of an unprivileged host uid.
    private mutating func takeNamespaceIdentity(fullRange: Bool) {
        attempt(.userNamespace) {
            try systemCall("setresgid") { pyhost_set_gid(0) }
            if fullRange { try systemCall("setgroups") { setgroups(0, nil) } }
            try systemCall("setresuid") { pyhost_set_uid(0) }
        }
        workerIdentity = fullRange ? Self.workerID : nil
        if !fullRange {
            record(.unprivilegedIdentity, "only the server's own uid could be mapped into the user namespace")
        }
    }

    private mutating func probeWorkerNamespaces() {
        var flags: UInt = 0
        for (flag, layer) in [
            (PYHOST_CLONE_NEWPID, SandboxLayer.pidNamespace), (PYHOST_CLONE_NEWNS, .privateTmp), (PYHOST_CLONE_NEWIPC, nil),
        ] {
            if layer == .privateTmp && !active.contains(.mountNamespace) {
                record(.privateTmp, "no mount namespace")
                continue
            }
            let pid = pyhost_clone_process(UInt(flag) | flags)
            if pid == 0 { _exit(0) }
            if pid > 0 {
                var status: Int32 = 0
                waitpid(pid, &status, 0)
                flags |= UInt(flag)
                if let layer { record(layer, nil) }
            } else if let layer {
                record(layer, "clone(\(layer.rawValue)): \(SystemCallError(call: "clone", errno: errno))")
            }
        }
        workerNamespaces = flags
    }

    private mutating func attempt(_ layer: SandboxLayer, _ step: () throws -> Void) {
        do {
            try step()
            record(layer, nil)
        } catch {
            record(layer, "\(error)")
        }
    }

    private mutating func record(_ layer: SandboxLayer, _ failure: String?) {
        if let failure {
            missing.append(MissingLayer(layer: layer, reason: failure))
        } else if !active.contains(layer) {
            active.append(layer)
        }
    }
}
