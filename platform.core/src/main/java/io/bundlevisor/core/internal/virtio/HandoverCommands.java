package io.bundlevisor.core.internal.virtio;

import java.io.IOException;
import java.util.Dictionary;
import java.util.Hashtable;

import org.apache.felix.service.command.Descriptor;
import org.osgi.service.cm.Configuration;
import org.osgi.service.cm.ConfigurationAdmin;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;

import io.bundlevisor.core.virtio.VirtioService;

/**
 * Gogo {@code virtio:grace}: shows or sets, through Config Admin, how long a device whose bundle stopped waits for
 * the next bundle of its type before its driver is told DEVICE_NEEDS_RESET ({@link VirtioServiceImpl#PID},
 * {@value #PROPERTY}). A component of its own so that the platform runs without Config Admin (this command then
 * does not exist).
 */
@Component(service = HandoverCommands.class, property = {
    "osgi.command.scope=virtio",
    "osgi.command.function=grace"
})
public final class HandoverCommands {

    static final String PROPERTY = "handover.grace.seconds";
    private static final double MAX_SECONDS = 86_400;

    private final ConfigurationAdmin admin;
    private final VirtioServiceImpl virtio;

    /** {@code virtio} is this bundle's own service, so its implementation is known. */
    @Activate
    public HandoverCommands(@Reference ConfigurationAdmin admin, @Reference VirtioService virtio) {
        this.admin = admin;
        this.virtio = (VirtioServiceImpl) virtio;
    }

    @Descriptor("shows how long a device whose bundle stopped waits for the next bundle (an update) before its "
            + "driver is told DEVICE_NEEDS_RESET (Config Admin PID io.bundlevisor.virtio, handover.grace.seconds)")
    public String grace() throws IOException {
        Dictionary<String, Object> p = configuration().getProperties();
        Object v = p == null ? null : p.get(PROPERTY);
        return PROPERTY + "=" + (v == null ? HandoverPolicy.DEFAULT_GRACE_MILLIS / 1000.0 + " (the default)" : v)
                + ", in effect: " + virtio.handoverGrace().toMillis() + " ms";
    }

    @Descriptor("sets how long a device whose bundle stopped waits for the next bundle; 0 turns handovers off")
    public String grace(@Descriptor("seconds, 0 to 86400") double seconds) throws IOException {
        if (!(seconds >= 0) || seconds > MAX_SECONDS) {
            throw new IllegalArgumentException("the grace period is 0 to 86400 seconds, not " + seconds);
        }
        Configuration c = configuration();
        Dictionary<String, Object> p = c.getProperties();
        Dictionary<String, Object> next = new Hashtable<>();
        if (p != null) {
            for (String k : java.util.Collections.list(p.keys())) {
                next.put(k, p.get(k));
            }
        }
        next.put(PROPERTY, seconds);
        c.update(next);
        return PROPERTY + "=" + seconds;
    }

    /** The service's configuration, whichever bundle binds it ("?": any of ours). */
    private Configuration configuration() throws IOException {
        return admin.getConfiguration(VirtioServiceImpl.PID, "?");
    }
}
