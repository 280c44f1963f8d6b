"""One reconcile of a GptOssDeployment and its bookkeeping: observe the children (``observe``),
apply what drifted (``drift``, ``reconcile``), compute status (``status``, pure), and run
reconciles one at a time per CR (``runner``).
"""
