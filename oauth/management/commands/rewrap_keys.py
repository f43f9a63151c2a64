from django.core.management.base import BaseCommand

from jobs.services import job_run
from kit import crypto

from ...signing import rotation
from ..progress import ProgressBar


class Command(BaseCommand):
    help = ("After a KEK rotation (new PLATFORM_KEK, old one in PLATFORM_KEK_PREVIOUS): re-encrypt every "
            "encrypted secret (every field registered in kit.crypto: signing keys, SSO, gateway, webhook and "
            "sink secrets, the audit signing key) under the current KEK. Resumable: interrupted, run it again.")

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=100)

    def handle(self, *args, batch_size, **options):
        total = rotation.secrets_to_rewrap()
        if not total:
            self.stdout.write(f"every encrypted secret is already under KEK {crypto.current_kek_version()}")
            return
        bar = ProgressBar(self.stderr, "re-wrapping")
        with job_run(rotation.REWRAP_JOB, params={"kek": crypto.current_kek_version()}) as job:
            job.progress(0, total)

            def progress(done):
                job.progress(done)
                bar.update(done, total)

            job.run.done = rotation.rewrap_keys(batch_size=batch_size, progress=progress,
                                                check_cancelled=job.check_cancelled)
            job.run.result = {"rewrapped": job.run.done}
        bar.done()
        self.stdout.write(self.style.SUCCESS(f"re-wrapped {job.run.done} secret(s) under KEK "
                                             f"{crypto.current_kek_version()}"))
