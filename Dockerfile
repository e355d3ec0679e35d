FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway gateway
COPY policies policies
COPY estimators estimators
COPY admin_ui admin_ui
RUN pip install --no-cache-dir .
ENV SOBRIA_HOST=0.0.0.0 SOBRIA_DATA_DIR=/data
VOLUME /data
EXPOSE 8000
CMD ["sobria", "serve", "--workers", "2"]
