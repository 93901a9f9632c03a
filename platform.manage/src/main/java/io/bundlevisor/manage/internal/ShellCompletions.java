package io.bundlevisor.manage.internal;

import java.util.Collections;
import java.util.Map;
import java.util.Set;
import java.util.WeakHashMap;

import org.apache.felix.service.command.CommandSession;
import org.apache.felix.service.command.CommandSessionListener;
import org.osgi.service.component.annotations.Component;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Tab completion of VM names in the shell: before a Gogo session runs a command, declares with gogo.jline's
 * {@code complete} command that the VM commands take a VM name (the candidates come from {@code vm:names}), unless the
 * session's completions ({@value #COMPLETIONS}, gogo.jline's per-session table) have them already. A session where
 * {@code complete} does not exist (no gogo.jline) is not asked again.
 */
@Component(service = CommandSessionListener.class)
public final class ShellCompletions implements CommandSessionListener {

    private static final Logger LOG = LoggerFactory.getLogger(ShellCompletions.class);
    /** The commands whose one argument is a VM's name, with what they do (no quote: they go in single quotes). */
    static final Map<String, String> VM_COMMANDS = Map.of(
            "vm:devices", "Lists the devices of a VM",
            "vm:resume", "Starts or resumes the VPs of a VM",
            "vm:pause", "Stops the VPs of a VM",
            "vm:reset", "Resets a stopped VM to power-on",
            "vm:clear", "Forgets the pending halt of a VM",
            "vm:close", "Stops a VM and frees it");

    /** The session variable where gogo.jline keeps a session's completions, by command. */
    static final String COMPLETIONS = ".completions";

    private final Set<CommandSession> refused =
            Collections.synchronizedSet(Collections.newSetFromMap(new WeakHashMap<>()));
    private final ThreadLocal<Boolean> declaring = ThreadLocal.withInitial(() -> false);

    @Override
    public void beforeExecute(CommandSession session, CharSequence command) {
        if (declaring.get() || refused.contains(session)
                || session.get(COMPLETIONS) instanceof Map<?, ?> m && m.containsKey("vm:pause")) {
            return;
        }
        declaring.set(true);
        try {
            for (Map.Entry<String, String> c : VM_COMMANDS.entrySet()) {
                session.execute("complete -c " + c.getKey() + " -e");
                session.execute("complete -c " + c.getKey() + " -d '" + c.getValue() + "'");
                session.execute("complete -c " + c.getKey() + " -a 'vm:names'");
            }
        } catch (Exception e) {
            refused.add(session);
            LOG.debug("no completions declared in this shell: {}", e.toString());
        } finally {
            declaring.set(false);
        }
    }

    @Override
    public void afterExecute(CommandSession session, CharSequence command, Exception exception) {
    }

    @Override
    public void afterExecute(CommandSession session, CharSequence command, Object result) {
    }
}
