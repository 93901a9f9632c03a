package io.bundlevisor.core.internal.task;

import io.bundlevisor.core.ring.RingService;
import io.bundlevisor.core.task.TaskDriver;
import io.bundlevisor.core.task.TaskDriverBuilder;
import io.bundlevisor.core.task.TaskDriverSource;

import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.ConfigurationPolicy;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.Designate;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Publishes the {@link TaskDriverSource} with the backend that configuration (PID {@value TaskDriverSource#PID})
 * asks for. A configuration change reactivates the component: the old backend's threads stop after their queued
 * tasks, and the service comes back with the new backend. The ring service is always registered by platform.uring
 * (even where io_uring is unavailable: then executors run tasks and refuse IO, and the ring service has said why).
 * Immediate: the executor threads exist from start-up, not first use.
 */
@Component(service = TaskDriverSource.class, immediate = true, configurationPid = TaskDriverSource.PID,
        configurationPolicy = ConfigurationPolicy.OPTIONAL)
@Designate(ocd = TaskDriverSourceComponent.Config.class)
public final class TaskDriverSourceComponent implements TaskDriverSource {

    private static final Logger LOG = LoggerFactory.getLogger(TaskDriverSourceComponent.class);

    @ObjectClassDefinition(name = "Bundlevisor task drivers",
            description = "Which backend places task drivers on threads.")
    @interface Config {
        @AttributeDefinition(description = "single: one executor thread for everything; "
                + "thread: a thread (and ring) per driver that targets a VP.")
        String backend() default ThreadDriverBackend.NAME;

        @AttributeDefinition(description = "Submission queue entries of each executor thread's ring.", min = "1")
        int ring_entries() default 256;
    }

    private final TaskDriverSourceImpl source;

    @Activate
    public TaskDriverSourceComponent(Config config, @Reference RingService rings) {
        RingFactory factory = new RingFactory(rings, config.ring_entries());
        TaskDriverSourceImpl created;
        try {
            created = new TaskDriverSourceImpl(config.backend(), factory);
        } catch (IllegalArgumentException e) {
            LOG.error("{}; using the {} backend", e.getMessage(), ThreadDriverBackend.NAME);
            created = new TaskDriverSourceImpl(ThreadDriverBackend.NAME, factory);
        }
        this.source = created;
        LOG.info("task-driver source active with the {} backend", source.backend());
    }

    /**
     * Outside OSGi (tests, benches): the {@code backend} named ({@code single} or {@code thread}) with rings of 256
     * entries; {@link #deactivate()} stops its threads.
     *
     * @throws IllegalArgumentException for an unknown backend
     */
    public TaskDriverSourceComponent(String backend, RingService rings) {
        this.source = new TaskDriverSourceImpl(backend, new RingFactory(rings, 256));
    }

    @Deactivate
    public void deactivate() {
        source.shutdown();
    }

    @Override
    public TaskDriver simple() {
        return source.simple();
    }

    @Override
    public TaskDriver current() {
        return source.current();
    }

    @Override
    public TaskDriverBuilder builder() {
        return source.builder();
    }

    @Override
    public void setVpReady(int vp, boolean ready) {
        source.setVpReady(vp, ready);
    }

    @Override
    public io.bundlevisor.core.task.VpGroup createVpGroup(String name, int vpCount) {
        return source.createVpGroup(name, vpCount);
    }

    @Override
    public String backend() {
        return source.backend();
    }
}
