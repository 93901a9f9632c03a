package io.bundlevisor.distro;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertSame;
import static org.junit.Assert.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Dictionary;
import java.util.Hashtable;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import javax.inject.Inject;

import io.bundlevisor.core.partition.Console;
import io.bundlevisor.core.partition.DeviceSpec;
import io.bundlevisor.core.partition.HaltReason;
import io.bundlevisor.core.partition.MachineConfig;
import io.bundlevisor.core.partition.Partition;
import io.bundlevisor.core.partition.PartitionException;
import io.bundlevisor.core.partition.PartitionService;
import io.bundlevisor.core.ring.IoMemory;
import io.bundlevisor.core.ring.Ring;
import io.bundlevisor.core.ring.RingService;
import io.bundlevisor.core.ring.Sqe;
import io.bundlevisor.core.task.TaskDriver;
import io.bundlevisor.core.task.TaskDriverSource;
import io.bundlevisor.core.virtio.VirtioService;
import io.bundlevisor.uring.host.HostFile;

import org.apache.felix.service.command.CommandProcessor;
import org.apache.felix.service.command.CommandSession;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.ops4j.pax.exam.Configuration;
import org.ops4j.pax.exam.Option;
import org.ops4j.pax.exam.junit.PaxExam;
import org.ops4j.pax.exam.spi.reactors.ExamReactorStrategy;
import org.ops4j.pax.exam.spi.reactors.PerMethod;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.framework.Constants;
import org.osgi.service.cm.ConfigurationAdmin;
import org.osgi.util.tracker.ServiceTracker;

/**
 * The platform inside a real Felix framework: every bundle active, IO through the ring service and through task
 * drivers on real io_uring, the shell command, backend reconfiguration, and platform.uring going and coming back.
 * Each test gets a fresh framework, so no test depends on another's leftovers.
 */
@RunWith(PaxExam.class)
@ExamReactorStrategy(PerMethod.class)
public class PlatformIT {

    @Inject
    private BundleContext context;

    @Inject
    private RingService rings;

    @Inject
    private TaskDriverSource tasks;

    @Configuration
    public Option[] config() throws Exception {
        return PlatformConfiguration.options();
    }

    @Test
    public void everyBundleIsActive() {
        List<String> notActive = new ArrayList<>();
        for (Bundle b : context.getBundles()) {
            boolean fragment = b.getHeaders().get(Constants.FRAGMENT_HOST) != null;
            if (!fragment && b.getState() != Bundle.ACTIVE) {
                notActive.add(b.getSymbolicName() + " state " + b.getState());
            }
        }
        assertTrue("bundles not active: " + notActive, notActive.isEmpty());
        assertTrue(rings.unavailabilityCause().orElse(""), rings.isAvailable());
    }

    /**
     * The fence around the system-call layer: a bundle that imports {@code io.bundlevisor.uring.sys} as any package
     * (a device bundle by mistake) does not resolve; only an import that asks with {@code platform=true} does. The
     * exported {@code io.bundlevisor.uring.host} offers no unchecked view of memory any more, and the JPMS module
     * exports the system-call layer to the platform's modules alone.
     */
    @Test
    public void aBundleOutsideThePlatformCannotResolveTheSystemCallLayer() throws Exception {
        Bundle intruder = context.installBundle("itest:intruder", manifestOnly("itest.intruder",
                "io.bundlevisor.uring.sys"));
        Bundle platformLike = context.installBundle("itest:platform-like", manifestOnly("itest.platformlike",
                "io.bundlevisor.uring.sys;platform=true"));
        try {
            org.osgi.framework.BundleException refused = null;
            try {
                intruder.start();
            } catch (org.osgi.framework.BundleException e) {
                refused = e;
            }
            assertNotNull("a plain import of io.bundlevisor.uring.sys must not resolve", refused);
            assertTrue(refused.getMessage(), refused.getMessage().contains("io.bundlevisor.uring.sys"));
            assertEquals(Bundle.INSTALLED, intruder.getState());
            platformLike.start();
            assertEquals(Bundle.ACTIVE, platformLike.getState());
        } finally {
            intruder.uninstall();
            platformLike.uninstall();
        }
        for (java.lang.reflect.Method m : io.bundlevisor.uring.host.MappedRegion.class.getMethods()) {
            assertFalse("MappedRegion." + m.getName() + " hands out an unchecked segment",
                    java.lang.reflect.Modifier.isStatic(m.getModifiers()) && m.getReturnType() == MemorySegment.class);
        }
        Bundle uring = java.util.Arrays.stream(context.getBundles())
                .filter(b -> "io.bundlevisor.platform.uring".equals(b.getSymbolicName())).findFirst().orElseThrow();
        java.lang.module.ModuleDescriptor module;
        try (java.io.InputStream in = uring.getEntry("module-info.class").openStream()) {
            module = java.lang.module.ModuleDescriptor.read(in);
        }
        java.lang.module.ModuleDescriptor.Exports sys = module.exports().stream()
                .filter(e -> e.source().equals("io.bundlevisor.uring.sys")).findFirst().orElseThrow();
        assertEquals(java.util.Set.of("io.bundlevisor.platform.kvm", "io.bundlevisor.platform.vhost"), sys.targets());
        assertTrue(module.exports().stream().anyMatch(e -> e.source().equals("io.bundlevisor.uring.host")
                && !e.isQualified()));
    }

    /** A bundle of nothing but a manifest importing {@code imports}. */
    private static java.io.InputStream manifestOnly(String name, String imports) throws Exception {
        java.util.jar.Manifest m = new java.util.jar.Manifest();
        m.getMainAttributes().put(java.util.jar.Attributes.Name.MANIFEST_VERSION, "1.0");
        m.getMainAttributes().putValue(Constants.BUNDLE_MANIFESTVERSION, "2");
        m.getMainAttributes().putValue(Constants.BUNDLE_SYMBOLICNAME, name);
        m.getMainAttributes().putValue(Constants.IMPORT_PACKAGE, imports);
        ByteArrayOutputStream jar = new ByteArrayOutputStream();
        try (java.util.jar.JarOutputStream out = new java.util.jar.JarOutputStream(jar, m)) {
            out.flush();
        }
        return new ByteArrayInputStream(jar.toByteArray());
    }

    @Test
    public void ringServiceDoesRealIo() throws Exception {
        Path file = Files.createTempFile("bundlevisor-itest", ".img");
        byte[] data = new byte[4096];
        new Random(7).nextBytes(data);
        try (Ring ring = rings.create("itest", 16);
                HostFile f = HostFile.open(file, HostFile.READ_WRITE | HostFile.DIRECT);
                Arena arena = Arena.ofShared()) {
            assertTrue(rings.rings().contains(ring));
            MemorySegment out = arena.allocate(4096, 4096);
            MemorySegment.copy(data, 0, out, JAVA_BYTE, 0, data.length);
            Sqe sqe = new Sqe();
            CompletableFuture<Integer> write = ring.submitAsync(sqe.write(f.fd(), out, 0), IoMemory.NONE);
            complete(ring, write);
            assertEquals(4096, (int) write.get());
            MemorySegment in = arena.allocate(4096, 4096);
            CompletableFuture<Integer> read = ring.submitAsync(sqe.read(f.fd(), in, 0), IoMemory.NONE);
            complete(ring, read);
            assertEquals(4096, (int) read.get());
            assertArrayEquals(data, in.toArray(JAVA_BYTE));
        } finally {
            Files.delete(file);
        }
    }

    private static void complete(Ring ring, CompletableFuture<?> f) {
        while (!f.isDone()) {
            ring.submitAndWait(1);
            ring.processCompletions();
        }
    }

    @Test
    public void driverIoCompletesOnTheDriversOwnThread() throws Exception {
        assertEquals("thread", tasks.backend());
        TaskDriver driver = tasks.builder().targetVp(0).build("itest-vp0");
        try (Arena arena = Arena.ofShared()) {
            Path file = Files.createTempFile("bundlevisor-itest", ".img");
            Files.write(file, "hello from the ring".getBytes(StandardCharsets.US_ASCII));
            try (HostFile f = HostFile.open(file, HostFile.READ_ONLY)) {
                MemorySegment buf = arena.allocate(19);
                CompletableFuture<String> thread = new CompletableFuture<>();
                // Submitted from the test thread, completed on the driver's thread.
                driver.ring().submit(new Sqe().read(f.fd(), buf, 0), IoMemory.NONE, (io, res, flags) -> {
                    thread.complete(Thread.currentThread().getName() + ":" + res);
                });
                driver.ring().flush();
                driver.execute(() -> { }); // wakes the driver if it is idle
                assertEquals("itest-vp0:19", thread.get(10, TimeUnit.SECONDS));
                assertEquals("hello from the ring", new String(buf.toArray(JAVA_BYTE), StandardCharsets.US_ASCII));

                assertEquals(0, (int) driver.submit(new Sqe().nop(), IoMemory.NONE).get(10, TimeUnit.SECONDS));
                assertSame(driver, driver.spawn("current", tasks::current).get(10, TimeUnit.SECONDS));
            } finally {
                Files.delete(file);
            }
        } finally {
            driver.close();
        }
        assertNull("closing the driver stops its thread", findThread("itest-vp0"));
    }

    @Test
    public void ringListCommandShowsEachRingsCounters() throws Exception {
        TaskDriver driver = tasks.builder().targetVp(3).build("itest-vp3");
        try {
            driver.submit(new Sqe().nop(), IoMemory.NONE).get(10, TimeUnit.SECONDS);
            String out = runCommand("ring:list");
            assertTrue(out, out.contains("task:bundlevisor-default"));
            String line = out.lines().filter(l -> l.startsWith("task:itest-vp3")).findFirst().orElse("");
            assertTrue(out, line.matches("task:itest-vp3\\s+256\\s+512\\s+0\\s+0\\s+0\\s+1\\s+0"));
            assertTrue(runCommand("ring:probe").contains("READV          supported"));
        } finally {
            driver.close();
        }
    }

    @Test
    public void vhostCommandsServeListAndStopAndTheBundleTakesItsServersWithIt() throws Exception {
        java.nio.file.Path dir = java.nio.file.Files.createTempDirectory("itest-vhost");
        java.nio.file.Path image = dir.resolve("disk.img");
        java.nio.file.Path socket = dir.resolve("blk.sock");
        try (java.io.RandomAccessFile f = new java.io.RandomAccessFile(image.toFile(), "rw")) {
            f.setLength(1 << 20);
        }
        String served = runCommand("vhost:serve " + socket + " virtio-blk," + image + ",serial=it");
        assertTrue(served, served.contains("serving virtio-blk on " + socket));
        assertTrue("the socket exists", java.nio.file.Files.exists(socket));
        String list = runCommand("vhost:list");
        assertTrue(list, list.contains(socket + " virtio-blk waiting connections=0"));
        String again = runCommand("vhost:serve " + socket + " virtio-blk," + image);
        assertTrue(again, again.startsWith("vhost: ") && again.contains("already served"));
        String missing = runCommand("vhost:serve " + dir.resolve("x.sock") + " virtio-blk," + dir.resolve("none"));
        assertTrue(missing, missing.startsWith("vhost: ") && missing.contains("does not exist"));
        java.nio.file.Path bigger = dir.resolve("bigger.img");
        try (java.io.RandomAccessFile f = new java.io.RandomAccessFile(bigger.toFile(), "rw")) {
            f.setLength(2 << 20);
        }
        String updated = runCommand("vhost:change " + socket + " " + bigger + ",serial=it");
        assertEquals("updated " + socket, updated.strip());
        String refused = runCommand("vhost:change " + socket + " " + dir.resolve("none") + ",serial=it");
        assertTrue(refused, refused.startsWith("vhost: ") && !refused.strip().contains("\n"));
        String nowhere = runCommand("vhost:change " + dir.resolve("x.sock") + " " + bigger);
        assertTrue(nowhere, nowhere.startsWith("vhost: "));
        String stopped = runCommand("vhost:stop " + socket);
        assertTrue(stopped, stopped.startsWith("stopped "));
        assertFalse("stop removes the socket", java.nio.file.Files.exists(socket));

        runCommand("vhost:serve " + socket + " virtio-blk," + image);
        assertTrue(java.nio.file.Files.exists(socket));
        Bundle vhost = bundle("io.bundlevisor.platform.vhost");
        vhost.stop();
        assertFalse("stopping the bundle closes its servers", java.nio.file.Files.exists(socket));
        vhost.start();
    }

    private String runCommand(String command) throws Exception {
        ServiceTracker<CommandProcessor, CommandProcessor> tracker =
                new ServiceTracker<>(context, CommandProcessor.class, null);
        tracker.open();
        try {
            CommandProcessor processor = tracker.waitForService(10_000);
            assertNotNull("gogo runtime", processor);
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);
            try (CommandSession session = processor.createSession(new ByteArrayInputStream(new byte[0]), out, out)) {
                Object result = session.execute(command);
                return result == null ? bytes.toString(StandardCharsets.UTF_8) : result.toString();
            }
        } finally {
            tracker.close();
        }
    }

    @Test
    public void configurationSwitchesTheBackend() throws Exception {
        assertNotNull(findThread("bundlevisor-default"));
        ConfigurationAdmin cm = service(ConfigurationAdmin.class);
        org.osgi.service.cm.Configuration config = cm.getConfiguration(TaskDriverSource.PID, "?");
        Dictionary<String, Object> props = new Hashtable<>();
        props.put(TaskDriverSource.BACKEND, "single");
        config.update(props);

        TaskDriverSource single = awaitBackend("single");
        TaskDriver a = single.builder().targetVp(0).build("a");
        TaskDriver b = single.builder().targetVp(1).build("b");
        Thread ta = a.spawn("t", Thread::currentThread).get(10, TimeUnit.SECONDS);
        assertSame(ta, b.spawn("t", Thread::currentThread).get(10, TimeUnit.SECONDS));
        assertEquals("bundlevisor-tasks", ta.getName());
        assertNull("the thread backend's threads stopped", findThread("bundlevisor-default"));
        assertEquals(0, (int) a.submit(new Sqe().nop(), IoMemory.NONE).get(10, TimeUnit.SECONDS));

        config.delete();
        awaitBackend("thread");
        assertNull("the single backend's thread stopped", findThread("bundlevisor-tasks"));
    }

    @Test
    public void partitionServiceRunsATestGuestAndCanBeStoppedWithItsBundle() throws Exception {
        if (!Files.exists(Path.of("/dev/kvm"))) {
            System.err.println("*** SKIPPING the partition test: /dev/kvm does not exist on this host ***");
            org.junit.Assume.assumeTrue(false);
        }
        PartitionService service = service(PartitionService.class);
        assertTrue(service.unavailabilityCause().orElse(""), service.isAvailable());
        Path guest = Path.of("..", "platform.kvm", "target", "guests", "smp.elf").toAbsolutePath();
        ByteArrayOutputStream console = new ByteArrayOutputStream();
        List<String> halts = new java.util.concurrent.CopyOnWriteArrayList<>();
        try (Partition vm = service.create(MachineConfig.of("it", 2, 64L << 20, guest)
                .withConsole(Console.streams(null, console)))) {
            vm.onHalt(reason -> halts.add(Thread.currentThread().getName() + ":" + reason.describe()));
            assertEquals(List.of(vm), service.partitions());
            vm.start();
            assertEquals(new HaltReason.PowerOff(), vm.awaitHalt(java.time.Duration.ofSeconds(30)));
            assertTrue(console.toString(StandardCharsets.ISO_8859_1).contains("smp: 2 cpus up\n"));
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (halts.isEmpty() && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            assertEquals(1, halts.size());
            assertTrue("listeners run off the VP threads: " + halts, !halts.getFirst().startsWith("vp-"));
        }
        assertTrue(service.partitions().isEmpty());
        // The same from the shell.
        Path log = Files.createTempFile("vm-shell", ".log");
        assertEquals("started shell-vm (2 VPs, 64 MiB)", runCommand("vm:run shell-vm --kernel " + guest
                + " --cpus 2 --memory 64M --console file:" + log));
        long shellDeadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!runCommand("vm:list").contains("power off") && System.nanoTime() < shellDeadline) {
            Thread.sleep(20);
        }
        String listed = runCommand("vm:list");
        assertTrue(listed, listed.lines()
                .anyMatch(l -> l.matches("shell-vm\\s+2\\s+64M\\s+started\\s+(inject|halt) \\d+\\s+power off")));
        assertTrue(Files.readString(log).contains("smp: 2 cpus up"));
        assertEquals("stopped shell-vm", runCommand("vm:pause shell-vm"));
        assertEquals("reset shell-vm", runCommand("vm:reset shell-vm"));
        assertEquals("closed shell-vm", runCommand("vm:close shell-vm"));
        assertEquals("no VM named shell-vm", runCommand("vm:pause shell-vm"));
        assertEquals("vm:run: --cpus must be 1..16 on this host, not 0",
                runCommand("vm:run bad --kernel " + guest + " --cpus 0").replaceAll("1\\.\\.\\d+", "1..16"));
        // No arguments or --help: every option with its meaning, not Gogo's "Cannot coerce"; a name alone: one line.
        for (String usage : List.of(runCommand("vm:run"), runCommand("vm:run --help"))) {
            assertTrue(usage, usage.startsWith("Usage: vm:run NAME --kernel FILE [OPTIONS]"));
            assertTrue(usage, usage.contains("--memory=SIZE") && usage.contains("--disk=PATH[,OPTIONS]"));
        }
        assertEquals("vm:run: --kernel FILE is required", runCommand("vm:run x"));
        assertEquals("vm:run: unknown option '--cpu' (did you mean --cpus?)",
                runCommand("vm:run x --kernel " + guest + " --cpu 2"));
        String help = runCommand("help vm:run");
        assertTrue(help, help.contains("the VM's name") && help.contains("--kernel FILE (required)"));
        Files.deleteIfExists(log);
        // Stopping the KVM bundle closes its partitions; starting it again brings the service back.
        Bundle kvm = bundle("io.bundlevisor.platform.kvm");
        Partition left = service.create(MachineConfig.of("left", 1, 32L << 20, guest));
        left.start();
        kvm.stop();
        assertNull(context.getServiceReference(PartitionService.class));
        assertTrue("the VP threads ended", findThread("vp-0 left") == null);
        kvm.start();
        assertTrue(service(PartitionService.class).isAvailable());
    }

    /**
     * The device bundle comes and goes under a guest doing IO: the blk guest writes and reads back numbered records,
     * and fails on any DEVICE_NEEDS_RESET, error or reset of its queue (blk.strict). Stopping and starting,
     * uninstalling and installing again, and updating device.virtio-blk each hand the device over to the next bundle:
     * the guest's IO pauses (virtio:devices shows the device handing over) and goes on, and at the end the guest reads
     * back every write it saw acknowledged.
     */
    @Test
    public void blkBundleComesAndGoesUnderAGuestDoingIo() throws Exception {
        if (!Files.exists(Path.of("/dev/kvm"))) {
            System.err.println("*** SKIPPING the device bundle test: /dev/kvm does not exist on this host ***");
            org.junit.Assume.assumeTrue(false);
        }
        PartitionService service = service(PartitionService.class);
        VirtioService virtio = service(VirtioService.class);
        Bundle blk = bundle("io.bundlevisor.device.virtio-blk");
        String location = blk.getLocation();
        Path guest = Path.of("..", "platform.kvm", "target", "guests", "blk.elf").toAbsolutePath();
        Path image = Files.createTempFile("bundlevisor-hot", ".img");
        try {
            Files.write(image, new byte[16 << 20]);
            MachineConfig config = MachineConfig.of("hot", 1, 64L << 20, guest)
                    .withCmdline("blk.mode=hot blk.strict=1 blk.acked=1280")
                    .withDevice(new DeviceSpec("virtio-blk", image.toString()));
            // Without the bundle the type is unknown; installing it makes it available, nothing restarted.
            blk.uninstall();
            try {
                service.create(config);
                throw new AssertionError("a VM with a disk was created without the blk bundle");
            } catch (PartitionException e) {
                assertTrue(e.getMessage(), e.getMessage().contains("no installed bundle provides device type 'virtio-blk'"));
            }
            blk = context.installBundle(location);
            blk.start();
            awaitTrue("virtio-blk available", () -> virtio.deviceTypes().contains("virtio-blk"));

            ByteArrayOutputStream console = new ByteArrayOutputStream();
            try (Partition vm = service.create(config.withConsole(Console.streams(null, console)))) {
                vm.start();
                String shown = runCommand("virtio:devices");
                assertTrue(shown, shown.contains("hot/virtio-blk0 bound"));
                // 1: stop and start.
                awaitProgress(console);
                blk.stop();
                assertTrue(vm.halt().isEmpty());
                String between = runCommand("virtio:devices");
                assertTrue(between, between.contains("hot/virtio-blk0 handing-over="));
                blk.start();
                awaitProgress(console);
                // 2: uninstall and install again.
                blk.uninstall();
                blk = context.installBundle(location);
                blk.start();
                awaitProgress(console);
                // 3: update in place.
                blk.update();
                awaitProgress(console);
                assertTrue(runCommand("virtio:devices"), runCommand("virtio:devices").contains("hot/virtio-blk0 bound"));
                assertEquals(new HaltReason.PowerOff(), vm.awaitHalt(java.time.Duration.ofSeconds(60)));
                String out = console.toString(StandardCharsets.ISO_8859_1);
                assertTrue(out, out.contains("BLK-HOT-OK"));
                assertFalse(out, out.contains("BLK-HOT gone") || out.contains("BLK-FAIL"));
                String listed = runCommand("blk:list");
                assertTrue(listed, listed.contains(image.getFileName().toString()));
            }
            assertTrue(service(PartitionService.class).isAvailable());
        } finally {
            Files.deleteIfExists(image);
        }
    }

    /**
     * The grace period comes from Config Admin, set with the shell's virtio:grace: with 0.3 s, a stopped
     * device bundle that does not come back in time ends the handover in DEVICE_NEEDS_RESET; the guest resets and
     * gets a fresh device when the bundle is started again. Acknowledged writes are kept throughout.
     */
    @Test
    public void theGracePeriodIsSetThroughConfigAdminAndEndsAHandoverInAReset() throws Exception {
        if (!Files.exists(Path.of("/dev/kvm"))) {
            System.err.println("*** SKIPPING the grace period test: /dev/kvm does not exist on this host ***");
            org.junit.Assume.assumeTrue(false);
        }
        PartitionService service = service(PartitionService.class);
        Bundle blk = bundle("io.bundlevisor.device.virtio-blk");
        Path guest = Path.of("..", "platform.kvm", "target", "guests", "blk.elf").toAbsolutePath();
        Path image = Files.createTempFile("bundlevisor-grace", ".img");
        try {
            Files.write(image, new byte[16 << 20]);
            assertTrue(runCommand("virtio:grace 0.3").contains("handover.grace.seconds=0.3"));
            awaitTrue("the service took the new grace period", () -> {
                try {
                    return runCommand("virtio:grace").equals("handover.grace.seconds=0.3, in effect: 300 ms");
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            ByteArrayOutputStream console = new ByteArrayOutputStream();
            MachineConfig config = MachineConfig.of("grace", 1, 64L << 20, guest)
                    .withCmdline("blk.mode=hot blk.resets=1")
                    .withDevice(new DeviceSpec("virtio-blk", image.toString()))
                    .withConsole(Console.streams(null, console));
            try (Partition vm = service.create(config)) {
                vm.start();
                awaitProgress(console);
                blk.stop();
                awaitCount(console, "BLK-HOT gone", 1);
                assertTrue(runCommand("virtio:devices"), runCommand("virtio:devices").contains("grace/virtio-blk0 unbound"));
                blk.start();
                awaitCount(console, "BLK-HOT back resets=1", 1);
                assertEquals(new HaltReason.PowerOff(), vm.awaitHalt(java.time.Duration.ofSeconds(60)));
                String out = console.toString(StandardCharsets.ISO_8859_1);
                assertTrue(out, out.contains("BLK-HOT-OK"));
            }
        } finally {
            runCommand("virtio:grace 30");
            if (blk.getState() != Bundle.ACTIVE) {
                blk.start();
            }
            Files.deleteIfExists(image);
        }
    }

    /**
     * The shell edits Config Admin: {@code config:set} reaches the component using the PID (the handover grace
     * period, a log level), keeps a property's type, and refuses in one line.
     */
    @Test
    public void theShellEditsConfigurations() throws Exception {
        try {
            assertEquals("io.bundlevisor.virtio handover.grace.seconds=2.5",
                    runCommand("config:set io.bundlevisor.virtio handover.grace.seconds 2.5"));
            awaitTrue("the virtio service took it", () -> command("virtio:grace").endsWith("in effect: 2500 ms"));
            assertTrue(runCommand("config:get io.bundlevisor.virtio"),
                    runCommand("config:get io.bundlevisor.virtio").contains("handover.grace.seconds=2.5"));
            assertTrue(runCommand("config:list"), runCommand("config:list").contains("io.bundlevisor.virtio {"));
            assertEquals("config: io.bundlevisor.virtio handover.grace.seconds: 'soon' is not a double, as this "
                    + "property is", runCommand("config:set io.bundlevisor.virtio handover.grace.seconds soon"));
            assertEquals("config: no configuration io.bundlevisor.none", runCommand("config:get io.bundlevisor.none"));
            // Log levels are a configuration too (log:set writes it).
            runCommand("config:set io.bundlevisor.log io.bundlevisor.vhost debug");
            awaitTrue("the level is applied", () -> command("log:get").contains("io.bundlevisor.vhost debug"));
            assertEquals("deleted io.bundlevisor.log", runCommand("config:delete io.bundlevisor.log"));
            awaitTrue("back to inheriting", () -> !command("log:get").contains("io.bundlevisor.vhost"));
        } finally {
            runCommand("config:delete io.bundlevisor.virtio");
        }
        awaitTrue("the default again", () -> command("virtio:grace").endsWith("in effect: 30000 ms"));
    }

    /**
     * The deploy folder (Felix FileInstall) under a guest doing IO: a newer virtio-blk dropped in is installed and
     * started; with the embedded one uninstalled the device is handed over to it; replacing the file updates the
     * bundle (another handover); removing it uninstalls it; the embedded bundle installed again takes the device back.
     * The guest (strict: any reset fails it) notices none of it.
     */
    @Test
    public void deviceBundlesDroppedInTheDeployFolderComeAndGoUnderAGuest() throws Exception {
        if (!Files.exists(Path.of("/dev/kvm"))) {
            System.err.println("*** SKIPPING the deploy folder test: /dev/kvm does not exist on this host ***");
            org.junit.Assume.assumeTrue(false);
        }
        Path deploy = Path.of(context.getProperty("felix.fileinstall.dir"));
        Path staging = Files.createTempDirectory(Path.of("target"), "deploy-staging-");
        PartitionService service = service(PartitionService.class);
        Bundle embedded = bundle("io.bundlevisor.device.virtio-blk");
        String location = embedded.getLocation();
        Path guest = Path.of("..", "platform.kvm", "target", "guests", "blk.elf").toAbsolutePath();
        Path image = Files.createTempFile("bundlevisor-deploy", ".img");
        Path dropped = deploy.resolve("device.virtio-blk.jar");
        try {
            Files.write(image, new byte[16 << 20]);
            ByteArrayOutputStream console = new ByteArrayOutputStream();
            MachineConfig config = MachineConfig.of("deploy", 1, 64L << 20, guest)
                    .withCmdline("blk.mode=hot blk.strict=1 blk.acked=1280")
                    .withDevice(new DeviceSpec("virtio-blk", image.toString()))
                    .withConsole(Console.streams(null, console));
            try (Partition vm = service.create(config)) {
                vm.start();
                awaitProgress(console);
                Files.move(UpdatedBundle.of("device.virtio-blk", "deploy2", staging), dropped,
                        java.nio.file.StandardCopyOption.ATOMIC_MOVE);
                Bundle deployed = awaitBundle("0.1.0.deploy2");
                assertTrue(deployed.getLocation(), deployed.getLocation().startsWith("file:"));
                embedded.uninstall();
                awaitProgress(console);
                assertTrue(runCommand("virtio:devices"), runCommand("virtio:devices").contains("deploy/virtio-blk0 bound"));
                Files.move(UpdatedBundle.of("device.virtio-blk", "deploy3", staging), dropped,
                        java.nio.file.StandardCopyOption.ATOMIC_MOVE, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
                Bundle updated = awaitBundle("0.1.0.deploy3");
                assertEquals("updated in place, not installed again", deployed.getBundleId(), updated.getBundleId());
                awaitProgress(console);
                Files.delete(dropped);
                awaitTrue("uninstalled", () -> deployed.getState() == Bundle.UNINSTALLED);
                assertTrue(runCommand("virtio:devices"), runCommand("virtio:devices").contains("handing-over="));
                embedded = context.installBundle(location);
                embedded.start();
                awaitProgress(console);
                assertEquals(new HaltReason.PowerOff(), vm.awaitHalt(java.time.Duration.ofSeconds(90)));
                String out = console.toString(StandardCharsets.ISO_8859_1);
                assertTrue(out, out.contains("BLK-HOT-OK"));
                assertFalse(out, out.contains("BLK-HOT gone") || out.contains("BLK-FAIL"));
            }
        } finally {
            Files.deleteIfExists(dropped);
            if (embedded.getState() == Bundle.UNINSTALLED) {
                context.installBundle(location).start();
            }
            Files.deleteIfExists(image);
            VhostUserQemuIT.delete(staging);
        }
    }

    /**
     * VMs defined in Config Admin: a factory configuration io.bundlevisor.vm~NAME creates and starts its VM, a change
     * is not applied to the running VM, deleting it closes the VM, an invalid one creates nothing; a .cfg file in the
     * deploy folder does the same through FileInstall.
     */
    @Test
    public void vmsDefinedInConfigAdminComeAndGoWithTheirConfiguration() throws Exception {
        if (!Files.exists(Path.of("/dev/kvm"))) {
            System.err.println("*** SKIPPING the VM definition test: /dev/kvm does not exist on this host ***");
            org.junit.Assume.assumeTrue(false);
        }
        org.osgi.service.cm.ConfigurationAdmin admin = service(org.osgi.service.cm.ConfigurationAdmin.class);
        io.bundlevisor.manage.VmManager vms = service(io.bundlevisor.manage.VmManager.class);
        Path guest = Path.of("..", "platform.kvm", "target", "guests", "echo.elf").toAbsolutePath();
        Path dir = Files.createTempDirectory(Path.of("target"), "vm-definitions-").toAbsolutePath();
        org.osgi.service.cm.Configuration web = admin.getFactoryConfiguration("io.bundlevisor.vm", "cfgweb", "?");
        java.util.Hashtable<String, Object> p = new java.util.Hashtable<>();
        p.put("kernel", guest.toString());
        p.put("memory", "32M");
        p.put("console", "file:" + dir.resolve("cfgweb.log"));
        web.update(p);
        awaitTrue("the VM defined in Config Admin runs", () -> vms.get("cfgweb").map(v -> v.started()).orElse(false));
        awaitTrue("its guest runs", () -> {
            try {
                return Files.readString(dir.resolve("cfgweb.log")).contains("echo: ready");
            } catch (java.io.IOException e) {
                return false;
            }
        });
        // Its counters are JMX MBeans (jconsole reads them).
        javax.management.MBeanServer jmx = java.lang.management.ManagementFactory.getPlatformMBeanServer();
        javax.management.ObjectName mbean = new javax.management.ObjectName("io.bundlevisor:kind=vm,vm=cfgweb");
        awaitTrue("the VM's MBean", () -> jmx.isRegistered(mbean));
        assertEquals(1L, jmx.getAttribute(mbean, "vcpus"));
        assertEquals(32L << 20, jmx.getAttribute(mbean, "memory_bytes"));
        p.put("cpus", "2");
        web.update(p);
        Thread.sleep(500);
        assertEquals("a change is not applied to the running VM", 1, vms.get("cfgweb").orElseThrow().cpus());
        web.delete();
        awaitTrue("deleting the configuration closes the VM", () -> vms.get("cfgweb").isEmpty());
        awaitTrue("and its MBean goes", () -> !jmx.isRegistered(mbean));

        org.osgi.service.cm.Configuration bad = admin.getFactoryConfiguration("io.bundlevisor.vm", "cfgbad", "?");
        java.util.Hashtable<String, Object> wrong = new java.util.Hashtable<>(p);
        wrong.put("memory", "512");
        bad.update(wrong);
        Thread.sleep(1000);
        assertTrue("an invalid definition creates nothing", vms.get("cfgbad").isEmpty());
        bad.delete();

        // The same from a file in the deploy folder (FileInstall: io.bundlevisor.vm-NAME.cfg).
        Path cfg = Path.of(context.getProperty("felix.fileinstall.dir")).resolve("io.bundlevisor.vm-cfgfile.cfg");
        Path staged = dir.resolve("staged.cfg");
        Files.writeString(staged, "kernel = " + guest + "\nmemory = 32M\nconsole = none\n");
        Files.move(staged, cfg, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        try {
            awaitTrue("the VM of the .cfg file runs", () -> vms.get("cfgfile").map(v -> v.started()).orElse(false));
        } finally {
            Files.delete(cfg);
        }
        awaitTrue("removing the file closes the VM", () -> vms.get("cfgfile").isEmpty());
        VhostUserQemuIT.delete(dir);
    }

    /** api:serve opens Firecracker's API in a running platform; a microVM configured through it runs. */
    @Test
    public void theShellServesFirecrackersApi() throws Exception {
        if (!Files.exists(Path.of("/dev/kvm"))) {
            System.err.println("*** SKIPPING the API test: /dev/kvm does not exist on this host ***");
            org.junit.Assume.assumeTrue(false);
        }
        Path dir = Files.createTempDirectory(Path.of("target"), "api-shell-").toAbsolutePath();
        Path socket = dir.resolve("api.sock");
        Path guest = Path.of("..", "platform.kvm", "target", "guests", "poweroff.elf").toAbsolutePath();
        try {
            assertEquals("serving Firecracker's API for shellfc on " + socket,
                    runCommand("api:serve " + socket + " shellfc"));
            assertTrue(runCommand("api:list"), runCommand("api:list").contains(socket + " shellfc Not started"));
            assertEquals("204", ApiSocket.status(socket, "PUT", "/boot-source", "{\"kernel_image_path\": \"" + guest + "\"}"));
            assertEquals("204", ApiSocket.status(socket, "PUT", "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 32}"));
            assertEquals("204", ApiSocket.status(socket, "PUT", "/actions", "{\"action_type\": \"InstanceStart\"}"));
            awaitTrue("the microVM powered off", () -> command("vm:list").lines()
                    .anyMatch(l -> l.startsWith("shellfc ") && l.endsWith("power off")));
            assertEquals("stopped " + socket, runCommand("api:stop " + socket));
            assertFalse(Files.exists(socket));
            assertEquals("closed shellfc", runCommand("vm:close shellfc"));
        } finally {
            runCommand("api:stop " + socket);
            Files.deleteIfExists(Path.of("shellfc.console.log"));
            VhostUserQemuIT.delete(dir);
        }
    }

    /** vm:snapshot writes a folder (state, sparse memory) that vm:restore makes a running VM of again. */
    @Test
    public void theShellSnapshotsAndRestoresAVm() throws Exception {
        if (!Files.exists(Path.of("/dev/kvm"))) {
            System.err.println("*** SKIPPING the snapshot test: /dev/kvm does not exist on this host ***");
            org.junit.Assume.assumeTrue(false);
        }
        Path dir = Files.createTempDirectory(Path.of("target"), "vm-snapshot-").toAbsolutePath();
        Path guest = Path.of("..", "platform.kvm", "target", "guests", "echo.elf").toAbsolutePath();
        try {
            assertEquals("started snapvm (1 VPs, 32 MiB)", runCommand("vm:run snapvm --kernel " + guest
                    + " --memory 32M --console file:" + dir.resolve("first.log")));
            awaitTrue("the guest runs", () -> {
                try {
                    return Files.readString(dir.resolve("first.log")).contains("echo: ready");
                } catch (java.io.IOException e) {
                    return false;
                }
            });
            Path snap = dir.resolve("snap");
            assertEquals("snapshotted snapvm into " + snap, runCommand("vm:snapshot snapvm " + snap));
            assertTrue("a running VM goes on after its snapshot", command("vm:list").lines()
                    .anyMatch(l -> l.matches("snapvm\\s+1\\s+32M\\s+started.*")));
            assertEquals(32L << 20, Files.size(snap.resolve("memory")));
            assertEquals("closed snapvm", runCommand("vm:close snapvm"));
            assertEquals("restored snapvm (1 VPs, 32 MiB)", runCommand("vm:restore " + snap));
            assertTrue(command("vm:list").lines().anyMatch(l -> l.matches("snapvm\\s+1\\s+32M\\s+started.*")));
            assertTrue(runCommand("vm:restore " + snap).contains("a VM named snapvm exists already"));
            assertEquals("closed snapvm", runCommand("vm:close snapvm"));
            assertTrue(runCommand("vm:restore " + dir.resolve("none")), runCommand("vm:restore " + dir.resolve("none"))
                    .startsWith("vm:restore: "));
        } finally {
            runCommand("vm:close snapvm");
            VhostUserQemuIT.delete(dir);
        }
    }

    /** The device.virtio-blk bundle of this version, once FileInstall has it active (within 10 s). */
    private Bundle awaitBundle(String version) throws InterruptedException {
        Bundle[] found = new Bundle[1];
        awaitTrue("device.virtio-blk " + version + " active", () -> {
            for (Bundle b : context.getBundles()) {
                if ("io.bundlevisor.device.virtio-blk".equals(b.getSymbolicName())
                        && b.getVersion().toString().equals(version) && b.getState() == Bundle.ACTIVE) {
                    found[0] = b;
                    return true;
                }
            }
            return false;
        });
        return found[0];
    }

    private String command(String line) {
        try {
            return runCommand(line);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /** Two more progress lines of the hot guest than now: its IO is running. */
    private static void awaitProgress(ByteArrayOutputStream console) throws Exception {
        awaitCount(console, "BLK-HOT acked=", count(console.toString(StandardCharsets.ISO_8859_1), "BLK-HOT acked=") + 2);
    }

    /** Waits until {@code text} occurs {@code times} times on the console. */
    private static void awaitCount(ByteArrayOutputStream console, String text, int times) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (count(console.toString(StandardCharsets.ISO_8859_1), text) < times) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("no '" + text + "' x" + times + " on the console: "
                        + console.toString(StandardCharsets.ISO_8859_1));
            }
            Thread.sleep(10);
        }
    }

    private static int count(String haystack, String needle) {
        int n = 0;
        for (int i = haystack.indexOf(needle); i >= 0; i = haystack.indexOf(needle, i + 1)) {
            n++;
        }
        return n;
    }

    private static void awaitTrue(String what, java.util.function.BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("not within 10 s: " + what);
            }
            Thread.sleep(10);
        }
    }

    @Test
    public void uringBundleCanStopAndStartAtRuntime() throws Exception {
        Bundle uring = bundle("io.bundlevisor.platform.uring");
        uring.stop();
        assertNull("task drivers need the ring service", context.getServiceReference(TaskDriverSource.class));
        assertNull(findThread("bundlevisor-default"));
        uring.start();
        TaskDriverSource again = awaitBackend("thread");
        assertEquals(0, (int) again.simple().submit(new Sqe().nop(), IoMemory.NONE).get(10, TimeUnit.SECONDS));
        RingService ringsAgain = service(RingService.class);
        assertTrue(ringsAgain.rings().stream().anyMatch(r -> r.name().equals("task:bundlevisor-default")));
    }

    private Bundle bundle(String symbolicName) {
        for (Bundle b : context.getBundles()) {
            if (symbolicName.equals(b.getSymbolicName())) {
                return b;
            }
        }
        throw new AssertionError("no bundle " + symbolicName);
    }

    /** The service, held (not ungotten) for the rest of the test: some services die with their last unget. */
    private <T> T service(Class<T> type) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (System.nanoTime() < deadline) {
            var ref = context.getServiceReference(type);
            T s = ref == null ? null : context.getService(ref);
            if (s != null) {
                return s;
            }
            Thread.sleep(20);
        }
        throw new AssertionError("no " + type.getSimpleName() + " within 10 s");
    }

    private TaskDriverSource awaitBackend(String backend) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (System.nanoTime() < deadline) {
            var ref = context.getServiceReference(TaskDriverSource.class);
            if (ref != null) {
                TaskDriverSource s = context.getService(ref);
                if (s != null && backend.equals(s.backend())) {
                    return s;
                }
            }
            Thread.sleep(20);
        }
        throw new AssertionError("no task-driver source with the " + backend + " backend within 10 s");
    }

    private static Thread findThread(String name) {
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t.getName().equals(name) && t.isAlive()) {
                return t;
            }
        }
        return null;
    }
}
