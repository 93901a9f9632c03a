package io.bundlevisor.manage.internal;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.ConfigurationPolicy;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Modified;
import org.osgi.service.component.annotations.Reference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.bundlevisor.core.partition.PartitionException;
import io.bundlevisor.manage.VmAction;
import io.bundlevisor.manage.VmManager;

/**
 * VMs defined in Config Admin: each factory configuration of {@value #FACTORY_PID} (e.g. {@code io.bundlevisor.vm~web},
 * or a file {@code io.bundlevisor.vm-web.cfg} in the shell's deploy folder) is one VM, created and started when the
 * configuration appears and closed when it is deleted. Its properties are {@code bundlevisor run}'s options without
 * the dashes, read by the same parser ({@link VmDefinition}); an invalid one is one logged line and no VM. A change
 * to a running VM's definition is not applied to it (every property shapes the machine): it is logged with what
 * changed, and takes effect when the VM is defined again.
 */
@Component(configurationPid = VmDefinitions.FACTORY_PID, configurationPolicy = ConfigurationPolicy.REQUIRE,
        service = {})
public final class VmDefinitions {

    public static final String FACTORY_PID = "io.bundlevisor.vm";
    private static final Logger LOG = LoggerFactory.getLogger(VmDefinitions.class);

    private final VmManager vms;
    private final String pid;
    private Map<String, String> defined;
    private String running;

    @Activate
    public VmDefinitions(@Reference VmManager vms, Map<String, Object> properties) {
        this.vms = vms;
        this.pid = String.valueOf(properties.getOrDefault("service.pid", FACTORY_PID));
        this.defined = VmDefinition.own(properties);
        try {
            VmDefinition d = VmDefinition.of(pid, properties);
            running = vms.run(d.config()).name();
            LOG.info("{}: started VM {} ({} VPs, {} MiB)", pid, running, d.config().cpus(),
                    d.config().memoryBytes() >> 20);
        } catch (IllegalArgumentException | PartitionException e) {
            LOG.warn("{}: {}; the VM is not created", pid, e.getMessage());
        }
    }

    @Modified
    void modified(Map<String, Object> properties) {
        Map<String, String> now = VmDefinition.own(properties);
        List<String> changed = new ArrayList<>();
        for (String k : new TreeMap<>(merged(defined, now)).keySet()) {
            if (!String.valueOf(defined.get(k)).equals(String.valueOf(now.get(k)))) {
                changed.add(k);
            }
        }
        if (!changed.isEmpty()) {
            LOG.warn("{}: {} changed; not applied to the running VM {} (each shapes the machine): it takes effect when "
                    + "the VM is defined again (delete the configuration and create it, or restart the platform)",
                    pid, String.join(", ", changed), running == null ? "(none)" : running);
        }
    }

    @Deactivate
    void deactivate() {
        if (running != null) {
            try {
                vms.apply(running, VmAction.CLOSE);
                LOG.info("{}: closed VM {}", pid, running);
            } catch (PartitionException e) {
                LOG.debug("{}: {}", pid, e.getMessage()); // closed already, from the shell
            }
        }
    }

    private static Map<String, String> merged(Map<String, String> a, Map<String, String> b) {
        Map<String, String> all = new TreeMap<>(a);
        all.putAll(b);
        return all;
    }
}
