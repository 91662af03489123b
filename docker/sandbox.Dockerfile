# Image for turngym's docker sandbox backend (turngym.envs.code_sandbox, backend="docker").
# Build: docker build -f docker/sandbox.Dockerfile -t turngym-sandbox:latest docker/
# The runner script is sent with each run (python -I -c ...), so the image holds only
# the interpreter; containers are started with no network, a read-only root, a tmpfs
# /work, memory/CPU/pids limits, all capabilities dropped, as user nobody.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN mkdir -p /work && chmod 1777 /work
WORKDIR /work
USER 65534:65534
CMD ["python3", "-c", "print('turngym sandbox image: runs are started by turngym')"]
