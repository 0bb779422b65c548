from django.urls import path

from analytics import views

app_name = "analytics"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("playbooks/", views.playbook_list, name="playbooks"),
    path("playbooks/<uuid:public_id>/", views.playbook_detail, name="playbook"),
    path("playbooks/<uuid:public_id>/executions.csv", views.playbook_csv, name="playbook-csv"),
    path("analytics/", views.explore, name="explore"),
    path("goals/", views.goal_list, name="goals"),
    path("analytics/executions.csv", views.explore_csv, name="explore-csv"),
    path("executions/<str:execution_id>/", views.execution_detail, name="execution"),
]
